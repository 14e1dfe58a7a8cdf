"""Every topic meterstream uses, declared once with its partitioning and cleanup, and created by one function.

The CLI (``meterstream topics``), the demo, the processor (its tables'
changelogs), the dispatcher and the endpoint admin all call ``ensure_topics``
with the specs below, so a topic is created the same way whoever gets there first.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Iterable, Sequence

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from meterstream.config import KafkaSettings, Topics
from meterstream.errors import TopicError

from . import clients

log = logging.getLogger(__name__)

# How long finished webhook deliveries stay recognisable (and pending ones resumable).
DEFAULT_STATE_RETENTION_S = 7 * 86400.0


@dataclass(frozen=True)
class TopicSpec:
    """One topic: its name, partitions and cleanup.

    ``partitions_like`` names an existing topic whose partition count this one
    must copy (a topic co-partitioned with it); when that topic does not exist
    yet, ``partitions`` is used.
    """

    name: str
    partitions: int
    compacted: bool = False
    retention_ms: int | None = None
    partitions_like: str | None = None

    def config(self) -> dict[str, str]:
        conf: dict[str, str] = {}
        if self.compacted:
            conf["cleanup.policy"] = "compact,delete" if self.retention_ms is not None else "compact"
        if self.retention_ms is not None:
            conf["retention.ms"] = str(self.retention_ms)
        return conf


def pipeline_topics(t: Topics) -> list[TopicSpec]:
    """Usage, licenses, alerts, decisions, prices, the model releases and the dead letters.

    One partition count for all keyed by license id: Faust joins co-partitioned
    streams and tables (usage and licenses share the key, the count and the
    partitioner). Licenses and prices are compacted: the latest value per key is
    the state. The model-release catalog is compacted on one partition: every
    worker reads all of it (it is small and every license may name any model).
    """
    n = t.partitions
    return [TopicSpec(t.usage, n), TopicSpec(t.licenses, n, compacted=True), TopicSpec(t.alerts, n),
            TopicSpec(t.decisions, n), TopicSpec(t.model_releases, 1, compacted=True),
            TopicSpec(t.prices, n, compacted=True), TopicSpec(t.usage_dlq, n), TopicSpec(t.alerts_dlq, n)]


def governance_topics(t: Topics) -> list[TopicSpec]:
    """The organisation's governance data and the spend it is judged on.

    Inventory, policies, exceptions and budgets are compacted (the latest value
    per key is the state) with one partition: every worker holds all of them,
    and they change by hand, not at event rates. Prices (compacted, in
    ``pipeline_topics``) are read the same way. Spend is keyed by budget scope
    and partitioned like usage (the budget agent's table is co-partitioned with
    it); alert actions are an append-only log of remediation (ack/resolve).
    """
    n = t.partitions
    return [TopicSpec(t.inventory, 1, compacted=True), TopicSpec(t.policies, 1, compacted=True),
            TopicSpec(t.policy_exceptions, 1, compacted=True), TopicSpec(t.budgets, 1, compacted=True),
            TopicSpec(t.spend, n), TopicSpec(t.alert_actions, n)]


def webhook_topics(t: Topics, state_retention_s: float = DEFAULT_STATE_RETENTION_S) -> list[TopicSpec]:
    """The dispatcher's topics: endpoints (compacted, one partition: every dispatcher reads all of it),
    retry state (compacted with retention, partitioned like the alerts: a delivery's state lives in its
    alert's partition number), the delivery log and the dead letters."""
    return [
        TopicSpec(t.webhook_endpoints, 1, compacted=True),
        TopicSpec(t.webhook_retries, t.partitions, compacted=True, retention_ms=int(state_retention_s * 1000),
                  partitions_like=t.alerts),
        TopicSpec(t.webhook_deliveries, t.partitions),
        TopicSpec(t.webhook_dlq, t.partitions),
    ]


def evidence_topics(t: Topics) -> list[TopicSpec]:
    """Signed checkpoints of the evidence log, for witnesses: one partition (a witness reads it all, a few
    records a minute), kept forever (a witness that starts late still finds every checkpoint)."""
    return [TopicSpec(t.evidence_checkpoints, 1, retention_ms=-1)]


def changelog_topics(app_id: str, tables: Sequence[str], partitions: int) -> list[TopicSpec]:
    """Faust tables' changelogs (named as Faust names them), created before workers start: workers
    starting together otherwise race to create them, and the loser can keep a metadata view of 0
    partitions (Faust then refuses every table write with PartitionsMismatch)."""
    return [TopicSpec(f"{app_id}-{table}-changelog", partitions, compacted=True) for table in tables]


def ensure_topics(kafka: KafkaSettings, specs: Iterable[TopicSpec], replication: int = 1,
                  timeout: float = 30.0) -> list[str]:
    """Create every missing topic of ``specs``; return the names created (a concurrent creator is fine)."""
    admin = clients.admin(kafka)
    existing = _partition_counts(admin, timeout)
    new = [NewTopic(s.name, num_partitions=existing.get(s.partitions_like or "", s.partitions),
                    replication_factor=replication, config=s.config())
           for s in specs if s.name not in existing]
    if not new:
        return []
    created = []
    for name, fut in admin.create_topics(new, operation_timeout=timeout).items():
        try:
            fut.result(timeout)
            created.append(name)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise TopicError(f"cannot create topic {name}: {exc}") from exc
    log.info("created topics %s", created)
    return created


def _partition_counts(admin: AdminClient, timeout: float) -> dict[str, int]:
    try:
        topics = admin.list_topics(timeout=timeout).topics
    except KafkaException as exc:
        raise TopicError(f"cannot list topics: {exc}") from exc
    return {name: len(meta.partitions) for name, meta in topics.items()}

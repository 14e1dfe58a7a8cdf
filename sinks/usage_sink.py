"""Kafka usage batches -> ClickHouse ``usage_events``: the usage target of the batching consumer.

The sink never decodes events in Python on the normal path: ``accept`` checks
each message's header (a usage batch of a known schema version, its event
count) and ``write`` hands ClickHouse one Avro container of the newest schema
version, older messages resolved to it by appending their default columns
(see ``usage_writer``); the insert drops event ids already stored, so a batch
re-read after a crash is not counted twice.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from clickhouse_connect.driver.client import Client
from confluent_kafka import Message

from meterstream.errors import MeterstreamError
from meterstream.schemas import default_registry
from meterstream.schemas.codec import batch_count
from meterstream.schemas.resolve import BatchResolver

from .batching import BatchingConsumer, FlushPolicy, Invalid, Item, Row, batching_consumer
from .clickhouse import connect, sibling
from .evidence.leaf_sql import retire_event_leaves
from .evidence.touched import TouchedLogs, touched_logs
from .ingest_sql import drop_other_versions
from .migrations import migrate
from .retention import apply_retention
from .settings import SinkSettings
from .usage_writer import UsageWriter

Fingerprint = bytes


class UsageTarget:
    """Usage messages, grouped by writer schema, written into ``usage_events`` in one insert per flush."""

    name = "usage"

    def __init__(self, client: Client, helpers: Sequence[Client] = (), touched: TouchedLogs | None = None,
                 log_client: Client | None = None) -> None:
        """With ``touched`` (the checkpointer's board), the evidence log is on: each stored message gets a leaf,
        appended after the insert by ``take_deferred``'s work (the batching loop runs it beside the next
        batch and commits once it is done), on ``log_client`` when given."""
        self.registry = default_registry()
        self.resolver = BatchResolver(self.registry)
        self._refused: list[tuple[Message, str]] = []
        self._deferred: Callable[[], None] | None = None
        self.writer = UsageWriter(client, lambda msg, why: self._refused.append((msg, why)), self.resolver, helpers,
                                  evidence=touched is not None, touched=touched, log_client=log_client)

    def accept(self, msg: Message) -> Row[Fingerprint] | Invalid:
        value = msg.value() or b""
        try:
            writer = self.resolver.writer(value)  # a usage batch of a version the newest one resolves
            return Row(writer.fingerprint, batch_count(value))
        except (MeterstreamError, IndexError) as exc:
            return Invalid(str(exc))

    def write(self, items: Sequence[Item[Fingerprint]]) -> list[tuple[Message, str]]:
        groups: dict[bytes, tuple[dict[str, Any], list[Message]]] = {}
        for item in items:  # the schema is looked up once per writer version, not once per message
            group = groups.get(item.value)
            if group is None:
                group = groups[item.value] = (self.registry.by_fingerprint(item.value).schema, [])
            group[1].append(item.msg)
        self._refused = []
        stored = self.writer.write_events(groups)
        log = self.writer.log
        if log is not None:
            def append() -> None:
                log.append(stored)
            self._deferred = append
        return self._refused

    def take_deferred(self) -> Callable[[], None] | None:
        """The evidence leaves of the last write's stored messages, to append before its commit (idempotent)."""
        work, self._deferred = self._deferred, None
        return work


def usage_sink(settings: SinkSettings, client: Client | None = None) -> BatchingConsumer[Fingerprint]:
    """The usage consumer of the sink (its ClickHouse migrated, its retention, evidence log and ingest view
    applied; the ingest views of other releases dropped), writing with ``sink_write_threads`` clients."""
    client = client or connect(settings.clickhouse_url)
    migrate(client)
    apply_retention(client, settings.sink_retention_months)
    retire_event_leaves(client)
    target = UsageTarget(client, [sibling(client, settings.clickhouse_url)
                                  for _ in range(settings.sink_write_threads - 1)],
                         touched_logs(settings.clickhouse_url) if settings.evidence_enabled else None,
                         sibling(client, settings.clickhouse_url) if settings.evidence_enabled else None)
    drop_other_versions(client)
    return batching_consumer(settings, client, group=settings.sink_group, topics=[settings.usage],
                             target=target, dlq_topic=settings.usage_dlq,
                             policy=FlushPolicy(settings.sink_flush_rows, settings.sink_flush_ms,
                                                settings.sink_retry_max_s))

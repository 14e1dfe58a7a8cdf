"""Governance record topics -> ClickHouse: inventory history, policy versions, exceptions, alert actions.

One consumer (``governance``) reads the four low-volume topics and writes each
record into its topic's table; every table is a ReplacingMergeTree keyed on
the record's version, so re-reads collapse (see migration 0030).
"""

from __future__ import annotations

from typing import Any, Sequence

from clickhouse_connect.driver.client import Client
from confluent_kafka import Message

from meterstream.kafka.topics import ensure_topics, governance_topics

from .batching import BatchingConsumer, FlushPolicy, Invalid, Item, Row, Skip, batching_consumer
from .record_sink import RECORD_FLUSH_ROWS, RecordTarget
from .settings import SinkSettings

INVENTORY_COLUMNS = ["kind", "id", "name", "status", "provider", "family", "version", "review_date", "model_card",
                     "lineage", "certification", "owner_team", "accountable", "purpose", "category", "environment",
                     "data_categories", "sensitivity", "controls", "allowed_models", "changed_by", "change_note",
                     "updated_at"]
POLICY_COLUMNS = ["policy_id", "version", "text", "updated_by", "updated_at"]
EXCEPTION_COLUMNS = ["exception_id", "rule_id", "scope", "reason", "approver", "requested_by", "created_at",
                     "expires_at", "revoked_at", "note", "updated_at"]
ACTION_COLUMNS = ["alert_id", "action", "actor", "note", "at"]


def _row(columns: list[str]) -> Any:
    return lambda r: [r[c] for c in columns]


class GovernanceTarget:
    """Routes each message to the record target of its topic; writes each table's rows together."""

    def __init__(self, client: Client, settings: SinkSettings) -> None:
        spec = {settings.inventory: ("inventory", "inventory_history", INVENTORY_COLUMNS),
                settings.policies: ("policy", "policy_versions", POLICY_COLUMNS),
                settings.policy_exceptions: ("policy_exception", "policy_exceptions", EXCEPTION_COLUMNS),
                settings.alert_actions: ("alert_action", "alert_actions", ACTION_COLUMNS)}
        self.targets = {topic: RecordTarget(client, subject=s, table=t, columns=c, row=_row(c))
                        for topic, (s, t, c) in spec.items()}
        self.name = "governance"

    def accept(self, msg: Message) -> Row[tuple[str, list[Any]]] | Invalid | Skip:
        outcome = self.targets[str(msg.topic())].accept(msg)
        return Row((str(msg.topic()), outcome.value)) if isinstance(outcome, Row) else outcome

    def write(self, items: Sequence[Item[tuple[str, list[Any]]]]) -> list[tuple[Message, str]]:
        for topic, target in self.targets.items():
            mine = [Item(i.msg, i.value[1], i.count) for i in items if i.value[0] == topic]
            if mine:
                target.write(mine)
        return []


def governance_sink(settings: SinkSettings, client: Client) -> BatchingConsumer[tuple[str, list[Any]]]:
    ensure_topics(settings, governance_topics(settings))  # subscribe to topics that exist
    target = GovernanceTarget(client, settings)
    return batching_consumer(settings, client, group=f"{settings.sink_group}.governance",
                             topics=list(target.targets), target=target, dlq_topic=None,
                             policy=FlushPolicy(min(settings.sink_flush_rows, RECORD_FLUSH_ROWS),
                                                settings.sink_flush_ms, settings.sink_retry_max_s))

"""Low-volume record topics -> ClickHouse: alerts and license snapshots.

One fastavro-decoded record per message, mapped to a row, inserted in
batches; offsets are committed only after the insert. Duplicates (redelivery)
collapse in the tables' ReplacingMergeTree keys (alert id; license + version).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

from clickhouse_connect.driver.client import Client
from confluent_kafka import Consumer, Message, Producer, TopicPartition

from meterstream.errors import MeterstreamError
from meterstream.schemas import RecordCodec

from .dead_letters import DeadLetters
from .errors import SinkError
from .retrying import run_until
from .settings import SinkSettings

log = logging.getLogger(__name__)
RowFn = Callable[[dict[str, Any]], list[Any]]

ALERT_COLUMNS = ["alert_id", "kind", "severity", "license_id", "tenant", "team", "metric", "period", "threshold",
                 "message", "evidence", "event_id", "created_at"]
LICENSE_COLUMNS = ["license_id", "updated_at", "key_hash", "tenant", "tier", "status", "not_before", "expires_at",
                   "quotas.metric", "quotas.limit", "quotas.period", "quotas.hard", "models.model",
                   "models.version_rule", "hardware_ids", "max_hardware", "regions", "features"]


def alert_row(r: dict[str, Any]) -> list[Any]:
    return [r[c] for c in ALERT_COLUMNS]


def license_row(r: dict[str, Any]) -> list[Any]:
    q, m = r["quotas"], r["models"]
    return [r["license_id"], r["updated_at"], r["key_hash"], r["tenant"], r["tier"], r["status"], r["not_before"],
            r["expires_at"], [x["metric"] for x in q], [x["limit"] for x in q], [x["period"] for x in q],
            [int(x["hard"]) for x in q], [x["model"] for x in m], [x["version_rule"] for x in m],
            r["hardware_ids"], r["max_hardware"], r["regions"], r["features"]]


class RecordSink:
    """Consumes one topic of single records into one table."""

    def __init__(self, settings: SinkSettings, client: Client, *, topic: str, subject: str, table: str,
                 columns: list[str], row: RowFn, dlq_topic: str | None, group_suffix: str) -> None:
        self.settings, self.client, self.table, self.columns, self.row = settings, client, table, columns, row
        self.codec = RecordCodec(subject)
        self.consumer = Consumer({**settings.client_config(), "group.id": f"{settings.sink_group}.{group_suffix}",
                                  "enable.auto.commit": False, "auto.offset.reset": "earliest"})
        self.consumer.subscribe([topic])
        producer = Producer({**settings.client_config(), "enable.idempotence": True}) if dlq_topic else None
        self.dead = DeadLetters(client, producer, dlq_topic)
        self.rows: list[list[Any]] = []
        self.offsets: dict[tuple[str, int], int] = {}
        self.since = 0.0
        self.written = 0

    def run(self, stop: threading.Event) -> None:
        try:
            run_until(stop, self.poll_once, self.flush, self.settings.sink_retry_max_s, f"{self.table} sink")
        finally:
            if self.dead.producer is not None:
                self.dead.producer.flush(30)
            self.consumer.close()

    def poll_once(self, timeout: float = 0.2) -> None:
        if not self._due():
            for msg in self.consumer.consume(num_messages=1000, timeout=timeout):
                if msg.error() is None:
                    self._accept(msg)
        if self._due():
            self.flush()

    def _due(self) -> bool:
        return bool(self.offsets) and (len(self.rows) >= 10_000
                                       or time.monotonic() - self.since >= self.settings.sink_flush_ms / 1000)

    def _accept(self, msg: Message) -> None:
        if not self.offsets:
            self.since = time.monotonic()
        key = (str(msg.topic()), int(msg.partition() or 0))
        self.offsets[key] = max(self.offsets.get(key, -1), int(msg.offset() or 0))
        if msg.value() is None:
            return  # a tombstone on a compacted topic: nothing to record
        try:
            self.rows.append(self.row(self.codec.decode(msg.value())))
        except (MeterstreamError, KeyError, TypeError) as exc:
            self.dead.add(msg, str(exc))

    def flush(self) -> None:
        if not self.offsets:
            return
        if self.rows:
            try:
                self.client.insert(self.table, self.rows, column_names=self.columns)
            except Exception as exc:
                raise SinkError(f"insert of {len(self.rows)} rows into {self.table} failed: {exc}") from exc
        self.dead.flush()
        self.consumer.commit(offsets=[TopicPartition(t, p, o + 1) for (t, p), o in self.offsets.items()],
                             asynchronous=False)
        self.written += len(self.rows)
        self.rows, self.offsets = [], {}


def alerts_sink(settings: SinkSettings, client: Client) -> RecordSink:
    return RecordSink(settings, client, topic=settings.alerts, subject="alert", table="alerts",
                      columns=ALERT_COLUMNS, row=alert_row, dlq_topic=settings.alerts_dlq, group_suffix="alerts")


def licenses_sink(settings: SinkSettings, client: Client) -> RecordSink:
    return RecordSink(settings, client, topic=settings.licenses, subject="license", table="license_snapshots",
                      columns=LICENSE_COLUMNS, row=license_row, dlq_topic=None, group_suffix="licenses")


__all__ = ["RecordSink", "alerts_sink", "licenses_sink"]

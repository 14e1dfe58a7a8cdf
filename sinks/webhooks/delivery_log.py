"""``webhook.deliveries`` topic -> ClickHouse ``webhook_deliveries``: every attempt on record.

The dispatcher never opens ClickHouse (an embedded chDB path has one owner,
the sink process); it produces one record per attempt, and this sink, run
inside the sink process, inserts them in batches and commits offsets only
after the insert. Duplicates are absorbed by the insert token and by
ReplacingMergeTree on ``attempt_id``.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from typing import Any

from clickhouse_connect.driver.client import Client
from confluent_kafka import Consumer, Message, Producer, TopicPartition

from meterstream.errors import MeterstreamError
from meterstream.schemas import RecordCodec

from ..errors import SinkError
from ..retrying import run_until
from ..migrations import migrate
from .settings import DeliveryLogSettings

log = logging.getLogger(__name__)
COLUMNS = ["attempt_id", "delivery_id", "alert_id", "endpoint_id", "license_id", "attempt", "url",
           "status_code", "latency_us", "error", "attempted_at", "outcome", "next_attempt_at"]
TABLE = "webhook_deliveries"


class DeliveryLogSink:
    """One consumer of the delivery log. ``run()`` loops until ``stop`` is set."""

    def __init__(self, settings: DeliveryLogSettings, client: Client) -> None:
        self.settings = settings
        self.client = client
        migrate(client)
        self.codec = RecordCodec("webhook_delivery")
        self.consumer = Consumer({
            **settings.client_config(), "group.id": settings.webhook_log_group, "enable.auto.commit": False,
            "auto.offset.reset": "earliest", "enable.partition.eof": False})
        self.consumer.subscribe([settings.webhook_deliveries])
        self.dlq = Producer({**settings.client_config(), "enable.idempotence": True, "acks": "all"})
        self.rows: list[list[Any]] = []
        self.offsets: dict[int, tuple[int, int]] = {}  # partition -> (first, last) offset pending
        self.since = 0.0
        self.rows_written = 0
        self.dead_letters = 0

    def run(self, stop: threading.Event | None = None) -> None:
        stop = stop or threading.Event()
        try:
            run_until(stop, self.poll_once, self.flush, 30.0, "webhook delivery log")
        finally:
            self.close()

    def poll_once(self, timeout: float = 0.2) -> None:
        for msg in self.consumer.consume(num_messages=2000, timeout=timeout):
            if msg.error() is None:
                self._accept(msg)
        s = self.settings
        if len(self.rows) >= s.webhook_log_flush_rows or (
                self.offsets and time.monotonic() - self.since >= s.webhook_log_flush_ms / 1000):
            self.flush()

    def _accept(self, msg: Message) -> None:
        if not self.offsets:
            self.since = time.monotonic()
        p, o = msg.partition() or 0, msg.offset() or 0
        first, _ = self.offsets.get(p, (o, o))
        self.offsets[p] = (first, o)
        try:
            rec = self.codec.decode(msg.value() or b"")
        except MeterstreamError as exc:
            self._dead_letter(msg, str(exc))
            return
        self.rows.append([rec[c] for c in COLUMNS])  # aware datetimes: inserted as UTC whatever TZ is

    def flush(self) -> None:
        """Insert everything buffered, then commit its offsets."""
        if not self.offsets:
            return
        if self.rows:
            token = ";".join(f"{p}/{a}-{b}" for p, (a, b) in sorted(self.offsets.items()))
            try:
                self.client.insert(TABLE, self.rows, column_names=COLUMNS, settings={
                    "insert_deduplication_token": f"{self.settings.webhook_deliveries}:{token}"})
            except Exception as exc:
                raise SinkError(f"ClickHouse insert of {len(self.rows)} webhook attempts failed: {exc}") from exc
        if self.dlq.flush(30):
            raise SinkError("dead letters not acknowledged by Kafka; offsets stay uncommitted")
        topic = self.settings.webhook_deliveries
        self.consumer.commit(offsets=[TopicPartition(topic, p, b + 1) for p, (_, b) in self.offsets.items()],
                             asynchronous=False)
        self.rows_written += len(self.rows)
        self.rows, self.offsets = [], {}

    def _dead_letter(self, msg: Message, reason: str) -> None:
        self.dead_letters += 1
        log.warning("dead-lettering %s[%s]@%s: %s", msg.topic(), msg.partition(), msg.offset(), reason)
        self.dlq.produce(self.settings.webhook_dlq, msg.value(), msg.key(), headers={
            "reason": f"undecodable delivery log record: {reason}".encode(),
            "source": f"{msg.topic()}/{msg.partition()}/{msg.offset()}".encode()})
        self.dlq.poll(0)

    def close(self) -> None:
        self.dlq.flush(30)
        self.consumer.close()

"""Kafka usage batches -> ClickHouse ``usage_events``, offsets committed only after the write.

The sink never decodes events in Python on the normal path: it checks each
message's header, then hands ClickHouse one Avro container per flush. If
ClickHouse rejects a flush, each message is decoded in Python to find the bad
ones, which go to the dead-letter topic with the reason; the rest is retried.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition
from clickhouse_connect.driver.client import Client

from meterstream.errors import MeterstreamError
from meterstream.schemas import BatchCodec, decode_header, default_registry
from meterstream.schemas.codec import HEADER_LEN, read_long
from meterstream.schemas.registry import USAGE_BATCH

from .avro_container import container
from .clickhouse import connect
from .errors import SinkError
from .migrations import migrate
from .settings import SinkSettings

log = logging.getLogger(__name__)


@dataclass
class _Pending:
    """Messages consumed but not yet written, grouped by writer schema."""

    bodies: dict[bytes, list[tuple[Message, int]]] = field(default_factory=dict)
    rows: int = 0
    since: float = 0.0
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)

    def add(self, fp: bytes, msg: Message, count: int) -> None:
        if not self.rows and not self.offsets:
            self.since = time.monotonic()
        self.bodies.setdefault(fp, []).append((msg, count))
        self.rows += count
        self.mark(msg)

    def mark(self, msg: Message) -> None:
        key = (msg.topic(), msg.partition())
        self.offsets[key] = max(self.offsets.get(key, -1), msg.offset())


class UsageSink:
    """One sink consumer. ``run()`` loops until ``stop`` is set."""

    def __init__(self, settings: SinkSettings, client: Client | None = None) -> None:
        self.settings = settings
        self.client = client or connect(settings.clickhouse_url)
        migrate(self.client)
        self.registry = default_registry()
        self.codec = BatchCodec(self.registry)
        self.consumer = Consumer({
            **settings.client_config(),
            "group.id": settings.sink_group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": False,
        })
        self.consumer.subscribe([settings.usage])
        self.dlq = Producer({**settings.client_config(), "enable.idempotence": True, "acks": "all"})
        self.pending = _Pending()
        self.rows_written = 0
        self.dead_letters = 0

    def run(self, stop: threading.Event | None = None) -> None:
        stop = stop or threading.Event()
        try:
            while not stop.is_set():
                self.poll_once()
            self.flush()
        finally:
            self.close()

    def poll_once(self, timeout: float = 0.2) -> None:
        for msg in self.consumer.consume(num_messages=2000, timeout=timeout):
            err = msg.error()
            if err is not None:
                if err.code() != KafkaError._PARTITION_EOF:
                    log.warning("consumer error: %s", err)
                continue
            self._accept(msg)
        s = self.settings
        if self.pending.rows >= s.sink_flush_rows or (
                self.pending.offsets and time.monotonic() - self.pending.since >= s.sink_flush_ms / 1000):
            self.flush()

    def _accept(self, msg: Message) -> None:
        value = msg.value() or b""
        try:
            fp = decode_header(value)
            writer = self.registry.by_fingerprint(fp)
            if writer.subject != USAGE_BATCH:
                raise MeterstreamError(f"message holds {writer.subject}, not a usage batch")
            count, _ = read_long(value, HEADER_LEN)
        except (MeterstreamError, IndexError) as exc:
            self._dead_letter(msg, str(exc))
            self.pending.mark(msg)
            return
        self.pending.add(fp, msg, abs(count))

    def flush(self) -> None:
        """Write everything pending, then commit its offsets."""
        p = self.pending
        if not p.offsets:
            return
        for fp, items in p.bodies.items():
            self._insert(fp, items)
        self.dlq.flush(30)
        self.consumer.commit(offsets=[TopicPartition(t, part, off + 1) for (t, part), off in p.offsets.items()],
                             asynchronous=False)
        self.rows_written += p.rows
        self.pending = _Pending()

    def _insert(self, fp: bytes, items: list[tuple[Message, int]]) -> None:
        writer = self.registry.by_fingerprint(fp)
        token = ";".join(f"{m.topic()}/{m.partition()}/{m.offset()}" for m, _ in (items[0], items[-1]))
        try:
            self._raw_insert(writer.schema, [m.value()[HEADER_LEN:] for m, _ in items], token, len(items))
        except Exception as exc:  # ClickHouse rejected the container: find the bad messages
            log.warning("insert of %d messages failed (%s); checking each", len(items), exc)
            good = []
            for m, count in items:
                try:
                    self.codec.decode(m.value())
                    good.append((m, count))
                except MeterstreamError as bad:
                    self._dead_letter(m, str(bad))
            if good:
                self._raw_insert(writer.schema, [m.value()[HEADER_LEN:] for m, _ in good], token + "/retry",
                                 len(good))

    def _raw_insert(self, schema: dict[str, Any], bodies: list[bytes], token: str, n: int) -> None:
        data = container(schema, bodies)
        try:
            self.client.raw_insert("usage_batches_in", insert_block=data, fmt="Avro",
                                   settings={"insert_deduplication_token": token,
                                             "deduplicate_blocks_in_dependent_materialized_views": 1})
        except Exception as exc:
            raise SinkError(f"ClickHouse insert of {n} messages failed: {exc}") from exc

    def _dead_letter(self, msg: Message, reason: str) -> None:
        self.dead_letters += 1
        log.warning("dead-lettering %s[%d]@%d: %s", msg.topic(), msg.partition(), msg.offset(), reason)
        self.dlq.produce(self.settings.usage_dlq, msg.value(), msg.key(), headers={
            "error": reason.encode(), "source": f"{msg.topic()}/{msg.partition()}/{msg.offset()}".encode()})
        self.dlq.poll(0)

    def close(self) -> None:
        self.dlq.flush(30)
        self.consumer.close()

"""Kafka usage batches -> ClickHouse ``usage_events``, offsets committed only after the write.

The sink never decodes events in Python on the normal path: it checks each
message's header and hands ClickHouse one Avro container per flush (see
usage_writer). Order per flush: write events, write dead letters, then commit
offsets. A crash anywhere before the commit makes the sink read those messages
again, and the write drops event ids already stored, so nothing is counted twice.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from clickhouse_connect.driver.client import Client
from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition

from meterstream.errors import MeterstreamError
from meterstream.schemas import decode_header, default_registry
from meterstream.schemas.codec import batch_count
from meterstream.schemas.registry import USAGE_BATCH

from .clickhouse import connect
from .dead_letters import DeadLetters
from .errors import SinkError
from .retrying import run_until
from .migrations import migrate
from .retention import apply_retention
from .settings import SinkSettings
from .usage_writer import UsageWriter

log = logging.getLogger(__name__)


@dataclass
class _Pending:
    """Messages consumed but not yet written, grouped by writer schema."""

    groups: dict[bytes, tuple[dict[str, Any], list[Message]]] = field(default_factory=dict)
    rows: int = 0
    since: float = 0.0
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)

    def add(self, fp: bytes, schema: dict[str, Any], msg: Message, count: int) -> None:
        self.groups.setdefault(fp, (schema, []))[1].append(msg)
        self.rows += count
        self.mark(msg)

    def mark(self, msg: Message) -> None:
        if not self.offsets:
            self.since = time.monotonic()
        key = (str(msg.topic()), int(msg.partition() or 0))
        self.offsets[key] = max(self.offsets.get(key, -1), int(msg.offset() or 0))


class UsageSink:
    """One usage consumer. ``run()`` loops until ``stop`` is set."""

    def __init__(self, settings: SinkSettings, client: Client | None = None) -> None:
        self.settings = settings
        self.client = client or connect(settings.clickhouse_url)
        migrate(self.client)
        apply_retention(self.client, settings.sink_retention_months)
        self.registry = default_registry()
        self.consumer = Consumer({
            **settings.client_config(),
            "group.id": settings.sink_group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": False,
        })
        self.consumer.subscribe([settings.usage], on_revoke=self._on_revoke)
        producer = Producer({**settings.client_config(), "enable.idempotence": True, "acks": "all"})
        self.dead = DeadLetters(self.client, producer, settings.usage_dlq)
        self._refused: list[tuple[Message, str]] = []
        self.writer = UsageWriter(self.client, lambda m, why: self._refused.append((m, why)))
        self.pending = _Pending()
        self.rows_written = 0
        self.flushes = 0

    @property
    def dead_letters(self) -> int:
        return self.dead.total

    def run(self, stop: threading.Event | None = None) -> None:
        """Consume and write until ``stop``; a failed write is retried with backoff, never skipped."""
        stop = stop or threading.Event()
        try:
            run_until(stop, self.poll_once, self.flush, self.settings.sink_retry_max_s, "usage sink")
        finally:
            self.close()

    def poll_once(self, timeout: float = 0.2) -> None:
        if not self._due():
            msgs = [m for m in self.consumer.consume(num_messages=2000, timeout=timeout) if self._usable(m)]
            for i, msg in enumerate(msgs):
                self._accept(msg)
                if self.pending.rows >= self.settings.sink_flush_rows:
                    try:
                        self.flush()
                    except SinkError:
                        for rest in msgs[i + 1:]:  # held with the failed flush, never left unread
                            self._accept(rest)
                        raise
        if self._due():
            self.flush()

    @staticmethod
    def _usable(msg: Message) -> bool:
        err = msg.error()
        if err is not None and err.code() != KafkaError._PARTITION_EOF:
            log.warning("consumer error: %s", err)
        return err is None

    def _due(self) -> bool:
        p, s = self.pending, self.settings
        return bool(p.offsets) and (p.rows >= s.sink_flush_rows
                                    or time.monotonic() - p.since >= s.sink_flush_ms / 1000)

    def _accept(self, msg: Message) -> None:
        value = msg.value() or b""
        try:
            fp = decode_header(value)
            writer = self.registry.by_fingerprint(fp)
            if writer.subject != USAGE_BATCH:
                raise MeterstreamError(f"message holds {writer.subject}, not a usage batch")
            count = batch_count(value)
        except (MeterstreamError, IndexError) as exc:
            self.dead.add(msg, str(exc))
            self.pending.mark(msg)
            return
        self.pending.add(fp, writer.schema, msg, count)

    def flush(self) -> None:
        """Write everything pending, then the dead letters, then commit the offsets."""
        p = self.pending
        if not p.offsets:
            return
        if p.groups:
            self._refused = []  # a failed attempt's findings are redone by the retry, not kept twice
            self.writer.write(p.groups)
            for msg, why in self._refused:
                self.dead.add(msg, why)
            self.flushes += 1
            log.info("wrote flush %d: %d events from %d messages", self.flushes, p.rows,
                     sum(len(m) for _, m in p.groups.values()))
            self._maybe_crash()
        self.dead.flush()
        self.consumer.commit(offsets=[TopicPartition(t, part, off + 1) for (t, part), off in p.offsets.items()],
                             asynchronous=False)
        self.rows_written += p.rows
        self.pending = _Pending()

    def _maybe_crash(self) -> None:
        """Fault injection for crash tests (setting sink_crash_after_insert): die between write and commit."""
        n = self.settings.sink_crash_after_insert
        if n and self.flushes >= n:
            log.warning("fault injection: SIGKILL after write %d, before commit", self.flushes)
            os.kill(os.getpid(), signal.SIGKILL)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Write what we hold before the partitions move, so the new owner does not redo it."""
        try:
            self.flush()
        except MeterstreamError as exc:
            log.warning("could not write before rebalance (%s); the new owner will re-read", exc)
            self.pending = _Pending()
            self.dead.discard()

    def close(self) -> None:
        if self.dead.producer is not None:
            self.dead.producer.flush(30)
        self.consumer.close()

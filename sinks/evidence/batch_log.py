"""The usage log: one leaf per Kafka message of usage, its body hashed as it arrived (leaf kind ``usage.batch.v2``).

A leaf per event (kind ``usage.v2``, a view on ``usage_events``) cost ~1.1 µs per event inside the sink's
insert (30 fields formatted and hashed per event) plus a row per event to store, merge and tile. A leaf per
message hashes the message's body once (SHA-256 of a few kB, ~0.01 µs per event) and stores one row per
message with its body, so the verifier decodes the events from the body and checks each stored record
against them (``verify.py``, ``BATCH_KINDS``): a changed, deleted or moved record is still named.

Exactly once per (log, offset): after the flush's usage insert and before its commit, the target calls
``append`` with the messages ClickHouse stored (not those it refused: they are dead-lettered, not logged);
messages whose offset is already in their log are skipped. A crash between the insert and the append re-reads
the batch (its ids are then found stored, and the append happens); a crash after the append re-reads it and
finds the offsets logged. A message re-published by a producer's spool replay is a new message: it gets its own
leaf (what arrived is logged), while its events are stored once.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any, Callable, Sequence

from clickhouse_connect.driver.client import Client
from confluent_kafka import Message

from meterstream.schemas import BatchCodec

from .store import from_micros
from .touched import TouchedLogs
from .verify import BATCH_KINDS

log = logging.getLogger(__name__)

KIND = "usage.batch.v2"
PREFIX = b"\x00" + BATCH_KINDS[KIND][0]  # the leaf hash is SHA-256(0x00 || prefix || body)
COLUMNS = ["log", "kafka_offset", "entry_id", "kind", "license_id", "entry_time", "leaf_hash", "body"]
BodyFn = Callable[[bytes], bytes]  # a Kafka value -> its body in the newest batch schema (BatchResolver.body)


def log_name(msg: Message) -> str:
    return f"{msg.topic()}/{msg.partition()}"


class BatchLog:
    """Appends one leaf per stored usage message to the log of its topic partition."""

    def __init__(self, client: Client, body: BodyFn, touched: TouchedLogs | None = None) -> None:
        self.client, self.body, self.touched = client, body, touched
        self._codec = BatchCodec()

    def append(self, msgs: Sequence[Message]) -> int:
        """Log the messages not logged yet, in offset order; return how many leaves were added."""
        by_log: dict[str, dict[int, Message]] = {}
        for m in msgs:
            by_log.setdefault(log_name(m), {}).setdefault(int(m.offset() or 0), m)  # a redelivery in one batch: once
        if not by_log:
            return 0
        logged = self._logged(by_log)
        rows = []
        for name in sorted(by_log):
            for offset in sorted(by_log[name]):
                if (name, offset) not in logged:
                    rows.append(self._row(name, offset, by_log[name][offset]))
        if rows:
            self.client.insert("evidence_leaves", rows, column_names=COLUMNS)
        if self.touched is not None:
            self.touched.add(by_log)
        return len(rows)

    def _logged(self, by_log: dict[str, dict[int, Message]]) -> set[tuple[str, int]]:
        """The (log, offset) pairs of this batch already in the store (any leaf kind: a log written per event
        before the upgrade holds those offsets too)."""
        ranges = " UNION ALL ".join(
            f"SELECT log, kafka_offset FROM evidence_leaves WHERE log = {{g{i}:String}} "
            f"AND kafka_offset BETWEEN {min(offsets)} AND {max(offsets)}"
            for i, offsets in enumerate(by_log.values()))
        params = {f"g{i}": name for i, name in enumerate(by_log)}
        return {(str(g), int(o)) for g, o in self.client.query(ranges, parameters=params).result_rows}

    def _row(self, name: str, offset: int, msg: Message) -> list[Any]:
        body = self.body(msg.value() or b"")
        license_id, first = self._head(msg)
        leaf = hashlib.sha256(PREFIX + body).digest()
        return [name, offset, str(offset), KIND, license_id, from_micros(first), leaf, body]

    def _head(self, msg: Message) -> tuple[str, int]:
        """The message's license and earliest event time (µs), what exports select leaves by."""
        value = msg.value() or b""
        try:  # the other columns are skipped by their block sizes: a few µs per message
            batch = self._codec.decode(value, fields=("license_id", "event_time"))
            return str(batch.columns["license_id"][0]), int(min(batch.columns["event_time"]))
        except Exception as exc:  # noqa: BLE001 - ClickHouse stored it, so log it even if Python cannot read it
            key = msg.key()
            log.warning("evidence: cannot read the head of %s@%s (%s); logged under its key", log_name(msg),
                        msg.offset(), exc)
            ts = msg.timestamp()[1]
            return (key.decode("utf-8", "replace") if key else ""), max(ts, 0) * 1000

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
import struct
from typing import Sequence

from clickhouse_connect.driver.client import Client
from confluent_kafka import Message

from meterstream.errors import MeterstreamError
from meterstream.schemas.codec import HEADER_LEN, LONG, STR, decode_column, read_long
from meterstream.schemas.resolve import BatchResolver

from .touched import TouchedLogs
from .verify import BATCH_KINDS, leb128

log = logging.getLogger(__name__)

KIND = "usage.batch.v2"
PREFIX = b"\x00" + BATCH_KINDS[KIND][0]  # the leaf hash is SHA-256(0x00 || prefix || body)
COLUMNS = ["log", "kafka_offset", "entry_id", "kind", "license_id", "entry_time", "leaf_hash", "body"]
_KIND = KIND.encode()
_INT64 = struct.Struct("<q")


def log_name(msg: Message) -> str:
    return f"{msg.topic()}/{msg.partition()}"


class BatchLog:
    """Appends one leaf per stored usage message to the log of its topic partition."""

    def __init__(self, client: Client, resolver: BatchResolver, touched: TouchedLogs | None = None) -> None:
        self.client, self.resolver, self.touched = client, resolver, touched

    def append(self, msgs: Sequence[Message]) -> int:
        """Log the messages not logged yet, in offset order; return how many leaves were added."""
        by_log: dict[str, dict[int, Message]] = {}
        for m in msgs:
            by_log.setdefault(log_name(m), {}).setdefault(int(m.offset() or 0), m)  # a redelivery in one batch: once
        if not by_log:
            return 0
        logged = self._logged(by_log)
        parts: list[bytes | memoryview] = []
        added = 0
        for name in sorted(by_log):
            head = _text(name.encode())
            for offset in sorted(by_log[name]):
                if (name, offset) not in logged:
                    self._row(parts, head, offset, by_log[name][offset])
                    added += 1
        if parts:  # RowBinary built here: each body is copied once, into the insert, not converted value by value
            self.client.raw_insert("evidence_leaves", COLUMNS, insert_block=b"".join(parts), fmt="RowBinary")
        if self.touched is not None:
            self.touched.add(by_log)
        return added

    def _logged(self, by_log: dict[str, dict[int, Message]]) -> set[tuple[str, int]]:
        """The (log, offset) pairs of this batch already in the store (any leaf kind: a log written per event
        before the upgrade holds those offsets too)."""
        ranges = " UNION ALL ".join(
            f"SELECT log, kafka_offset FROM evidence_leaves WHERE log = {{g{i}:String}} "
            f"AND kafka_offset BETWEEN {min(offsets)} AND {max(offsets)}"
            for i, offsets in enumerate(by_log.values()))
        params = {f"g{i}": name for i, name in enumerate(by_log)}
        return {(str(g), int(o)) for g, o in self.client.query(ranges, parameters=params).result_rows}

    def _row(self, out: list[bytes | memoryview], log_text: bytes, offset: int, msg: Message) -> None:
        """Append one evidence_leaves row in RowBinary (the columns of COLUMNS, in order) to ``out``."""
        value = msg.value() or b""
        own, tail = memoryview(value)[HEADER_LEN:], self.resolver.tail(value)  # the body: own + tail
        license_id, first = _head(msg, value)
        leaf = hashlib.sha256(PREFIX)
        leaf.update(own)  # no copy of the body (SHA-256 releases the GIL on large inputs)
        leaf.update(tail)
        out += (log_text, _INT64.pack(offset), _text(str(offset).encode()), _text(_KIND), _text(license_id.encode()),
                _INT64.pack(first), leaf.digest(), leb128(len(own) + len(tail)), own, tail)


def _head(msg: Message, value: bytes) -> tuple[str, int]:
    """The message's license and the time of its first event (µs): what exports select leaves by.

    Read from the first three columns only (every version has them): a writer that gives block sizes, as the
    producer library does, lets the event ids and times be skipped; others are read.
    """
    try:
        _, times_at = decode_column(STR, value, HEADER_LEN, keep=False)
        skipped = _first_long_of_one_block(value, times_at)
        if skipped is None:
            times, license_at = decode_column(LONG, value, times_at, keep=True)
            first = int(times[0])
        else:
            first, license_at = skipped
        licenses, _ = decode_column(STR, value, license_at, keep=True)
        return str(licenses[0]), first
    except (MeterstreamError, IndexError, ValueError) as exc:  # stored by ClickHouse: logged even if unreadable here
        key = msg.key()
        log.warning("evidence: cannot read the head of %s@%s (%s); logged under its key", log_name(msg),
                    msg.offset(), exc)
        return (key.decode("utf-8", "replace") if key else ""), max(msg.timestamp()[1], 0) * 1000


def _first_long_of_one_block(value: bytes, pos: int) -> tuple[int, int] | None:
    """(first item, position after the array) of a long array written as one sized block, else None."""
    count, at = read_long(value, pos)
    if count >= 0:
        return None
    size, at = read_long(value, at)
    first, _ = read_long(value, at)
    end = at + size
    return (first, end + 1) if value[end] == 0 else None


def _text(raw: bytes) -> bytes:
    """RowBinary String: the LEB128 length (the verifier's, as per-event leaves use it), then the bytes."""
    return leb128(len(raw)) + raw

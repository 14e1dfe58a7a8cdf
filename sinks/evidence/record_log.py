"""Leaves for record topics (alerts now; decisions and governance records next): one per new record id.

A record topic's sink table collapses redelivered records by id at merge
time, so a view on it would log duplicates. Instead, after the batch's insert
and before its commit, the target calls ``append``: records whose id is not
yet in their partition's log are appended in (offset, id) order. A crash
between the insert and the append re-reads the batch, which appends them then;
a crash after the append re-reads it and finds them logged.

Hook for another record topic (e.g. decisions): add its leaf kind to
``verify.LEAF_SPECS`` and pass ``RecordLog(evidence, kind=..., ...)`` to its
``RecordTarget``; ``export`` picks its records up by kind. The checkpointer
(``checkpointer.py``) catches the trees up and signs, as for usage.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Sequence

from clickhouse_connect.driver.client import Client
from confluent_kafka import Message

from .store import EPOCH, from_micros
from .touched import TouchedLogs
from .verify import leaf_bytes, leaf_hash

LEAF_COLUMNS = ["log", "kafka_offset", "entry_id", "kind", "license_id", "entry_time", "leaf_hash"]
RecordFn = Callable[[Any], dict[str, Any]]  # a target's row -> the record its leaf encodes


def micros(value: Any) -> int:
    """Microseconds since the epoch of a datetime (naive = UTC) or of an int already in micros."""
    if isinstance(value, datetime):
        t = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return (t - EPOCH) // timedelta(microseconds=1)
    return int(value)


class RecordLog:
    """Appends the leaves of one kind of record to the logs of their topic partitions."""

    def __init__(self, client: Client, *, kind: str, record: RecordFn, id_field: str, time_field: str,
                 touched: TouchedLogs | None = None) -> None:
        self.client, self.kind, self.record = client, kind, record
        self.id_field, self.time_field, self.touched = id_field, time_field, touched

    def append(self, items: Sequence[tuple[Message, Any]]) -> None:
        by_log: dict[str, dict[str, tuple[int, dict[str, Any]]]] = {}
        for msg, row in items:
            rec = self.record(row)
            seen = by_log.setdefault(f"{msg.topic()}/{msg.partition()}", {})
            seen.setdefault(str(rec[self.id_field]), (int(msg.offset() or 0), rec))  # first delivery wins
        for log, records in by_log.items():
            self._append_log(log, records)
        if self.touched is not None:
            self.touched.add(by_log)

    def _append_log(self, log: str, records: dict[str, tuple[int, dict[str, Any]]]) -> None:
        client = self.client
        logged = {str(r[0]) for r in client.query(
            "SELECT entry_id FROM evidence_leaves WHERE log = {g:String} AND entry_id IN {ids:Array(String)}",
            parameters={"g": log, "ids": list(records)}).result_rows}
        rows = []
        for entry_id, (offset, rec) in sorted(records.items(), key=lambda kv: (kv[1][0], kv[0])):
            if entry_id in logged:
                continue
            when = micros(rec[self.time_field])
            leaf = leaf_hash(leaf_bytes(self.kind, {**rec, self.time_field: when}))
            rows.append([log, offset, entry_id, self.kind, rec.get("license_id", ""),
                         from_micros(when), leaf])
        if rows:
            client.insert("evidence_leaves", rows, column_names=LEAF_COLUMNS)

"""Writes one flush of usage messages to ClickHouse so that every event lands exactly once.

One statement per flush: one Avro container (one record per Kafka message, its
partition, offset and topic and the container's message count appended to each
record) is inserted into this release's Null ingest table, whose view
(``ingest_sql.py``) writes into ``usage_events`` only the events whose id is not
stored yet (each id once), priced on the way. ClickHouse parses the Avro, not
Python. Messages of every schema version go into one container of the newest
batch schema: an older message's body gets its missing columns appended as
defaults (``schemas/resolve.py``). Rollup views fire on that write, so they count
each event once however often it was consumed or produced. With the evidence log
on, the messages stored (not those refused) then get one leaf each, once per
Kafka offset (``evidence/batch_log.py``), before the flush commits.

With helper clients (``sink_write_threads``), a flush is cut by Kafka partition into as many shares,
inserted side by side (chDB runs queries of separate clients in parallel and
releases the GIL). That stays exact because shares never hold the same event id
or evidence log: a log is a partition, and a license (whose ids the check looks
up) lives on one partition, as the key is the license (the assumption that
already lets several sink processes write one store). A flush commits only
when every share is written.

A container ClickHouse refuses as data is split in halves until the bad
messages are isolated; they become dead letters and the rest is written (each
half is its own insert, deduplicated against what the halves before it wrote).
Any other failure (server unreachable, out of memory or disk, a missing table)
raises SinkError, so the flush is retried and nothing is dead-lettered.
"""

from __future__ import annotations

import copy
import logging
import threading
from typing import Any, Callable, Sequence

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError
from confluent_kafka import Message

from meterstream.schemas.codec import zz
from meterstream.schemas.resolve import BatchResolver

from .avro_container import container
from .errors import SinkError
from .evidence.batch_log import BatchLog
from .evidence.touched import TouchedLogs
from .ingest_sql import EVENT_COLUMNS, apply_ingest, insert_settings

__all__ = ["EVENT_COLUMNS", "UsageWriter"]
log = logging.getLogger(__name__)

_EXTRA_FIELDS = [{"name": "kafka_partition", "type": "int"}, {"name": "kafka_offset", "type": "long"},
                 {"name": "kafka_topic", "type": "string"}, {"name": "container_messages", "type": "int"}]
# ClickHouse errors that say nothing about the data: retried (SinkError), never dead-lettered.
_NOT_THE_DATA = ("MEMORY_LIMIT_EXCEEDED", "TOO_MANY_PARTS", "TIMEOUT_EXCEEDED",
                 "NOT_ENOUGH_SPACE", "TABLE_IS_READ_ONLY", "READONLY", "UNKNOWN_TABLE", "UNKNOWN_DATABASE",
                 "NO_SUCH_COLUMN_IN_TABLE", "THERE_IS_NO_COLUMN", "UNKNOWN_IDENTIFIER", "TOO_MANY_SIMULTANEOUS_QUERIES",
                 "QUERY_WAS_CANCELLED", "ABORTED", "NETWORK_ERROR", "SOCKET_TIMEOUT", "ALL_CONNECTION_TRIES_FAILED",
                 "CANNOT_OPEN_FILE", "CANNOT_WRITE_TO_FILE_DESCRIPTOR", "KEEPER_EXCEPTION", "DEADLOCK_AVOIDED")

DeadLetterFn = Callable[[Message, str], None]


class UsageWriter:
    """Writes each flush of usage messages in one insert (one per share with helpers); isolates messages
    ClickHouse refuses."""

    def __init__(self, client: Client, dead_letter: DeadLetterFn, resolver: BatchResolver | None = None,
                 helpers: Sequence[Client] = (), evidence: bool = False,
                 touched: TouchedLogs | None = None, log_client: Client | None = None) -> None:
        self.client = client
        self.clients = [client, *helpers]
        self._dead_letter = dead_letter
        self._refused: set[int] = set()  # id() of the messages of this write that were dead-lettered
        self.resolver = resolver or BatchResolver()
        # its own client (a sibling) lets the sink append one batch's leaves while it inserts the next
        self.log = BatchLog(log_client or client, self.resolver, touched) if evidence else None
        schema = copy.deepcopy(self.resolver.latest.schema)
        schema["fields"] = [*schema["fields"], *_EXTRA_FIELDS]
        self._container_schema = schema
        self.table = apply_ingest(client)

    def write(self, groups: dict[bytes, tuple[dict[str, Any], list[Message]]]) -> None:
        """Write messages (grouped by writer fingerprint, as the sink accepted them).

        Every group is written in the newest schema, so one container carries them all.
        """
        stored = self.write_events(groups)
        if self.log is not None:  # only once every share is stored: a retried flush logs what this one did not
            self.log.append(stored)

    def write_events(self, groups: dict[bytes, tuple[dict[str, Any], list[Message]]]) -> list[Message]:
        """The insert alone (no evidence leaves); return the messages stored, i.e. not refused."""
        msgs = [m for _, group in groups.values() for m in group]
        self._refused = set()
        self._write(msgs)
        return [m for m in msgs if id(m) not in self._refused]

    def dead_letter(self, msg: Message, reason: str) -> None:
        self._refused.add(id(msg))
        self._dead_letter(msg, reason)

    def _write(self, msgs: list[Message]) -> None:
        shares = by_partition(msgs, len(self.clients))
        if len(shares) <= 1:
            for share in shares:
                self._insert_isolating(self.client, share)
            return
        failed: list[BaseException] = []

        def insert(client: Client, share: Sequence[Message]) -> None:
            try:
                self._insert_isolating(client, share)
            except BaseException as exc:  # noqa: BLE001 - raised below, once every share has finished
                failed.append(exc)
        threads = [threading.Thread(target=insert, args=(c, s), name="usage-insert")
                   for c, s in zip(self.clients[1:], shares[1:])]
        for t in threads:
            t.start()
        insert(self.client, shares[0])
        for t in threads:
            t.join()
        if failed:  # the shares written are stored: the retried flush finds their ids and skips them
            raise failed[0]

    def _insert(self, client: Client, msgs: Sequence[Message]) -> None:
        body, tail = self.resolver.body, zz(len(msgs))
        bodies = [body(m.value() or b"") + zz(m.partition()) + zz(m.offset()) + _avro_string(str(m.topic())) + tail
                  for m in msgs]
        client.raw_insert(self.table, insert_block=container(self._container_schema, bodies), fmt="Avro",
                          settings=insert_settings(len(msgs)))

    def _insert_isolating(self, client: Client, msgs: Sequence[Message]) -> None:
        """Insert ``msgs``; if ClickHouse refuses them as data, bisect to dead-letter only the bad ones."""
        try:
            self._insert(client, msgs)
            return
        except Exception as exc:  # noqa: BLE001 - refused data or a failure of the store: told apart below
            self._check_refusal(client, exc)
            if len(msgs) == 1:
                self.dead_letter(msgs[0], f"rejected by ClickHouse: {_first_line(exc)}")
                return
            log.warning("ClickHouse refused %d messages (%s); isolating the bad ones", len(msgs), _first_line(exc))
        half = len(msgs) // 2
        self._insert_isolating(client, msgs[:half])
        self._insert_isolating(client, msgs[half:])

    def _check_refusal(self, client: Client, cause: Exception) -> None:
        """Raise SinkError unless ``cause`` is ClickHouse refusing the data (the server answers, and the error
        is not one of those that say nothing about the data)."""
        if not isinstance(cause, DatabaseError) or any(f"({name})" in str(cause) for name in _NOT_THE_DATA):
            raise SinkError(f"writing usage to ClickHouse failed: {_first_line(cause)}") from cause
        try:
            client.command("SELECT 1")
        except Exception as exc:
            raise SinkError(f"ClickHouse unreachable: {exc}") from cause


def by_partition(msgs: Sequence[Message], n: int) -> list[list[Message]]:
    """``msgs`` cut into at most ``n`` non-empty shares of whole Kafka partitions, about equal in messages
    (each partition's messages keep their order)."""
    if n <= 1 or not msgs:
        return [list(msgs)] if msgs else []
    parts: dict[tuple[str, int], list[Message]] = {}
    for m in msgs:
        parts.setdefault((str(m.topic()), int(m.partition() or 0)), []).append(m)
    shares: list[list[Message]] = [[] for _ in range(max(1, min(n, len(parts))))]
    for part in sorted(parts.values(), key=len, reverse=True):
        min(shares, key=len).extend(part)
    return [s for s in shares if s]


def _avro_string(text: str) -> bytes:
    raw = text.encode()
    return zz(len(raw)) + raw


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:500] if text else type(exc).__name__

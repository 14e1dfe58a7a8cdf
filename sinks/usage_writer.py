"""Writes one flush of usage messages to ClickHouse so that every event lands exactly once.

One statement per flush: one Avro container (one record per Kafka message, its
partition, offset and topic and the container's message count appended to each
record) is inserted into this release's Null ingest table, whose view
(``ingest_sql.py``) writes into ``usage_events`` only the events whose id is not
stored yet (each id once), priced on the way. ClickHouse parses the Avro, not
Python. Messages of every schema version go into one container of the newest
batch schema: an older message's body gets its missing columns appended as
defaults (``schemas/resolve.py``). Rollup views fire on that write, so they count
each event once however often it was consumed or produced; so does the evidence
log's view, which writes each new event's leaf (``evidence/leaf_sql.py``).

A container ClickHouse refuses as data is split in halves until the bad
messages are isolated; they become dead letters and the rest is written (each
half is its own insert, deduplicated against what the halves before it wrote).
Any other failure (server unreachable, out of memory or disk, a missing table)
raises SinkError, so the flush is retried and nothing is dead-lettered.
"""

from __future__ import annotations

import copy
import logging
from typing import Any, Callable, Sequence

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError
from confluent_kafka import Message

from meterstream.schemas.codec import zz
from meterstream.schemas.resolve import BatchResolver

from .avro_container import container
from .errors import SinkError
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
    """Writes flushes of usage messages in one insert each; isolates messages ClickHouse refuses."""

    def __init__(self, client: Client, dead_letter: DeadLetterFn, resolver: BatchResolver | None = None) -> None:
        self.client = client
        self.dead_letter = dead_letter
        self.resolver = resolver or BatchResolver()
        schema = copy.deepcopy(self.resolver.latest.schema)
        schema["fields"] = [*schema["fields"], *_EXTRA_FIELDS]
        self._container_schema = schema
        self.table = apply_ingest(client)

    def write(self, groups: dict[bytes, tuple[dict[str, Any], list[Message]]]) -> None:
        """Write messages (grouped by writer fingerprint, as the sink accepted them).

        Every group is written in the newest schema, so one container carries them all.
        """
        msgs = [m for _, group in groups.values() for m in group]
        if msgs:
            self._insert_isolating(msgs)

    def _insert(self, msgs: Sequence[Message]) -> None:
        body, tail = self.resolver.body, zz(len(msgs))
        bodies = [body(m.value() or b"") + zz(m.partition()) + zz(m.offset()) + _avro_string(str(m.topic())) + tail
                  for m in msgs]
        self.client.raw_insert(self.table, insert_block=container(self._container_schema, bodies), fmt="Avro",
                               settings=insert_settings(len(msgs)))

    def _insert_isolating(self, msgs: Sequence[Message]) -> None:
        """Insert ``msgs``; if ClickHouse refuses them as data, bisect to dead-letter only the bad ones."""
        try:
            self._insert(msgs)
            return
        except Exception as exc:  # noqa: BLE001 - refused data or a failure of the store: told apart below
            self._check_refusal(exc)
            if len(msgs) == 1:
                self.dead_letter(msgs[0], f"rejected by ClickHouse: {_first_line(exc)}")
                return
            log.warning("ClickHouse refused %d messages (%s); isolating the bad ones", len(msgs), _first_line(exc))
        half = len(msgs) // 2
        self._insert_isolating(msgs[:half])
        self._insert_isolating(msgs[half:])

    def _check_refusal(self, cause: Exception) -> None:
        """Raise SinkError unless ``cause`` is ClickHouse refusing the data (the server answers, and the error
        is not one of those that say nothing about the data)."""
        if not isinstance(cause, DatabaseError) or any(f"({name})" in str(cause) for name in _NOT_THE_DATA):
            raise SinkError(f"writing usage to ClickHouse failed: {_first_line(cause)}") from cause
        try:
            self.client.command("SELECT 1")
        except Exception as exc:
            raise SinkError(f"ClickHouse unreachable: {exc}") from cause


def _avro_string(text: str) -> bytes:
    raw = text.encode()
    return zz(len(raw)) + raw


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:500] if text else type(exc).__name__

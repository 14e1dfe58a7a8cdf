"""Writes one flush of usage messages to ClickHouse so that every event lands exactly once.

Two statements per flush:

1. *Stage*: one Avro container (one record per Kafka message, with the flush
   id, partition and offset appended to each record) is inserted into the Null
   table ``usage_batches_in``; its view unrolls it into ``usage_staging``.
   ClickHouse parses the Avro, not Python. Messages of every schema version
   go into one container of the newest batch schema: an older message's body
   gets its missing columns appended as defaults (``schemas/resolve.py``).
2. *Move*: one insert-select copies into ``usage_events`` only the staged events
   whose id is not already there (and each id once), pricing them on the way.
   Rollup views fire on this insert, so they count each event once however
   often it was consumed or produced; so does the evidence log's view, which
   writes each moved event's leaf (``evidence/leaf_sql.py``) in the same insert.

A container ClickHouse rejects is split in halves until the bad messages are
isolated; they become dead letters and the rest is written.
"""

from __future__ import annotations

import copy
import logging
import random
from typing import Any, Callable, Sequence

from clickhouse_connect.driver.client import Client
from confluent_kafka import Message

from meterstream.schemas.codec import zz
from meterstream.schemas.resolve import BatchResolver

from .avro_container import container
from .errors import SinkError
from .pricing.lookup import price_key, priced_columns

log = logging.getLogger(__name__)

EVENT_COLUMNS = ("event_id, event_time, license_id, producer_id, sequence, feature, model, model_version, metric, "
                 "quantity, status, latency_us, team, app, environment, purpose, hardware_id, region, "
                 "input_hash, output_hash, provider, source, user_id, use_case, data_categories, sensitivity, "
                 "trace_id, stage, decision_id, reservation_id")
_EXTRA_FIELDS = [{"name": "flush_id", "type": "long"}, {"name": "kafka_partition", "type": "int"},
                 {"name": "kafka_offset", "type": "long"}, {"name": "kafka_topic", "type": "string"}]

MOVE_SQL = f"""
INSERT INTO usage_events ({EVENT_COLUMNS}, unit_price, cost, currency, price_version, kafka_partition, kafka_offset,
                          kafka_topic)
SELECT {EVENT_COLUMNS}, {priced_columns()}, kafka_partition, kafka_offset, kafka_topic
FROM (
    SELECT *, {price_key()} AS price_key
    FROM usage_staging
    WHERE flush_id = {{flush:UInt64}}
      AND event_id NOT IN (
          SELECT event_id FROM usage_events
          WHERE license_id IN (SELECT DISTINCT license_id FROM usage_staging WHERE flush_id = {{flush:UInt64}})
            AND event_time >= (SELECT min(event_time) FROM usage_staging WHERE flush_id = {{flush:UInt64}})
            AND event_time <= (SELECT max(event_time) FROM usage_staging WHERE flush_id = {{flush:UInt64}}))
    ORDER BY kafka_partition, kafka_offset
    LIMIT 1 BY event_id
)"""

DeadLetterFn = Callable[[Message, str], None]


class UsageWriter:
    """Stages and moves flushes of usage messages; isolates messages ClickHouse refuses."""

    def __init__(self, client: Client, dead_letter: DeadLetterFn, resolver: BatchResolver | None = None) -> None:
        self.client = client
        self.dead_letter = dead_letter
        self.resolver = resolver or BatchResolver()
        schema = copy.deepcopy(self.resolver.latest.schema)
        schema["fields"] = [*schema["fields"], *_EXTRA_FIELDS]
        self._container_schema = schema

    def write(self, groups: dict[bytes, tuple[dict[str, Any], list[Message]]]) -> int:
        """Write messages (grouped by writer fingerprint, as the sink accepted them); return the flush id.

        Every group is staged in the newest schema, so one container carries them all.
        """
        flush_id = random.getrandbits(63)
        msgs = [m for _, group in groups.values() for m in group]
        if msgs:
            self._stage_isolating(flush_id, msgs)
        try:
            self.client.command(MOVE_SQL, parameters={"flush": flush_id})
            self.client.command(f"ALTER TABLE usage_staging DROP PARTITION {flush_id}")
        except Exception as exc:
            raise SinkError(f"moving flush {flush_id} into usage_events failed: {exc}") from exc
        return flush_id

    def _stage(self, flush_id: int, msgs: Sequence[Message]) -> None:
        tail = zz(flush_id)
        body = self.resolver.body
        bodies = [body(m.value() or b"") + tail + zz(m.partition()) + zz(m.offset()) + _avro_string(str(m.topic()))
                  for m in msgs]
        data = container(self._container_schema, bodies)
        self.client.raw_insert("usage_batches_in", insert_block=data, fmt="Avro")

    def _stage_isolating(self, flush_id: int, msgs: Sequence[Message]) -> None:
        """Stage ``msgs``; if ClickHouse refuses them, bisect to dead-letter only the bad ones."""
        try:
            self._stage(flush_id, msgs)
            return
        except Exception as exc:  # noqa: BLE001 - refused data or unreachable server: told apart below
            self._check_reachable(exc)
            if len(msgs) == 1:
                self.dead_letter(msgs[0], f"rejected by ClickHouse: {_first_line(exc)}")
                return
            log.warning("ClickHouse refused %d messages (%s); isolating the bad ones", len(msgs), _first_line(exc))
        half = len(msgs) // 2
        self._stage_isolating(flush_id, msgs[:half])
        self._stage_isolating(flush_id, msgs[half:])

    def _check_reachable(self, cause: Exception) -> None:
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

"""Where the sink's write goes, part by part: Avro parse and unroll, the duplicate check, pricing, keeping
each id once, the write into a plain MergeTree and into a copy of ``usage_events`` (no views), then the real
write (rollup views included), each timed alone on the same containers; and, on messages generated the
same way, the real write with the evidence log on and the previous design (stage into ``usage_staging``,
then move; log off) in the same run.

Each part is a view on its own Null table fed the container the writer builds, so each includes the parts
above it. Run: ``TZ=UTC .venv/bin/python -m pytest tests/benchmarks/test_sink_breakdown.py -m benchmark -s``.
BENCH_SINK_FLUSHES (default 3) flushes of 200,000 live-like events. Asserts nothing about speed.
"""

from __future__ import annotations

import os
import statistics
import time
import uuid
from typing import Any, Callable

import pytest

from meterstream.schemas import BatchCodec
from meterstream.schemas.codec import zz
from meterstream.sinks.avro_container import container
from meterstream.sinks.clickhouse import sibling
from meterstream.sinks.ingest_sql import EVENT_COLUMNS, TEMPLATE, insert_settings
from meterstream.sinks.pricing.lookup import price_key, priced_columns
from meterstream.sinks.usage_writer import UsageWriter
from tests.benchmarks.test_sink_throughput import FLUSH_EVENTS, PER_MESSAGE, _messages
from tests.sinks.conftest import Msg

pytestmark = [pytest.mark.benchmark, pytest.mark.integration]
FLUSHES = int(os.environ.get("BENCH_SINK_FLUSHES", 3))
CPU_NOTE = "process CPU (chDB threads included) per event"

UNROLL = f"SELECT {EVENT_COLUMNS}, kafka_partition, kafka_offset, kafka_topic FROM {{s}} ARRAY JOIN {EVENT_COLUMNS}"
CHECK = ("event_id NOT IN (SELECT event_id FROM usage_events WHERE license_id IN (SELECT arrayJoin(license_id) "
         "FROM {s}) AND event_time >= (SELECT min(arrayMin(event_time)) FROM {s}) "
         "AND event_time <= (SELECT max(arrayMax(event_time)) FROM {s}))")
PRICED = f"{EVENT_COLUMNS}, {priced_columns()}, kafka_partition, kafka_offset, kafka_topic"
WRITE = f"SELECT {PRICED} FROM (SELECT *, {price_key()} AS price_key FROM ({UNROLL}) WHERE {CHECK} LIMIT 1 BY event_id)"
PARTS: dict[str, tuple[str, str]] = {  # label: (target table, the view's query over {s})
    "Avro parse + ARRAY JOIN (to a Null table)": ("bench_ids_null", f"SELECT event_id FROM ({UNROLL})"),
    "+ duplicate check (NOT IN stored ids)": ("bench_ids_null", f"SELECT event_id FROM ({UNROLL}) WHERE {CHECK}"),
    "+ pricing (dictionary lookups)": ("bench_events_null", f"SELECT {PRICED} FROM (SELECT *, {price_key()} AS "
                                                             f"price_key FROM ({UNROLL}) WHERE {CHECK})"),
    "+ LIMIT 1 BY event_id": ("bench_events_null", WRITE),
    "+ write into a plain MergeTree": ("bench_events_plain", WRITE),
    "+ write into a usage_events copy (no views)": ("bench_events_copy", WRITE),
}
REAL = "the real write: usage_events + rollup views"
REAL_LOG = "the real write, evidence log on (+ a leaf per message)"
REAL_SHARES = "the real write in 2 inserts side by side, log off"
PREVIOUS = "previous design: stage + move (rollup views)"

# The previous design (before issue 16's change), kept here to measure beside the new one.
STAGE_FIELDS = [{"name": "flush_id", "type": "long"}, {"name": "kafka_partition", "type": "int"},
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


def _timed(fn: Callable[[], Any]) -> tuple[float, float]:
    """Wall and process-CPU seconds of ``fn()``."""
    cpu, t0 = time.process_time(), time.perf_counter()
    fn()
    return time.perf_counter() - t0, time.process_time() - cpu


def _container(writer: UsageWriter, msgs: list[Msg]) -> bytes:
    tail = zz(len(msgs))
    bodies = [writer.resolver.body(m.value()) + zz(m.partition()) + zz(m.offset()) + zz(len(m.topic()))
              + m.topic().encode() + tail for m in msgs]
    return container(writer._container_schema, bodies)  # noqa: SLF001 - the writer's own container


def _previous(clickhouse: Any, writer: UsageWriter, msgs: list[Msg], flush: int) -> None:
    schema = dict(writer.resolver.latest.schema)
    schema["fields"] = [*schema["fields"], *STAGE_FIELDS]
    bodies = [writer.resolver.body(m.value()) + zz(flush) + zz(m.partition()) + zz(m.offset())
              + zz(len(m.topic())) + m.topic().encode() for m in msgs]
    clickhouse.raw_insert("usage_batches_in", insert_block=container(schema, bodies), fmt="Avro")
    clickhouse.command(MOVE_SQL, parameters={"flush": flush})
    clickhouse.command(f"ALTER TABLE usage_staging DROP PARTITION {flush}")


def _setup(clickhouse: Any) -> None:
    clickhouse.command("CREATE TABLE IF NOT EXISTS bench_ids_null (event_id UUID) ENGINE = Null")
    clickhouse.command("CREATE TABLE IF NOT EXISTS bench_events_null AS usage_events ENGINE = Null")
    clickhouse.command("CREATE TABLE IF NOT EXISTS bench_events_plain AS usage_events ENGINE = MergeTree "
                       "PARTITION BY toYYYYMM(event_time) ORDER BY (license_id, event_time, event_id)")
    clickhouse.command("CREATE TABLE IF NOT EXISTS bench_events_copy AS usage_events")
    for i, (target, query) in enumerate(PARTS.values()):
        clickhouse.command(f"CREATE TABLE IF NOT EXISTS bench_part_{i} AS {TEMPLATE}")
        clickhouse.command(f"CREATE MATERIALIZED VIEW IF NOT EXISTS bench_part_{i}_mv TO {target} AS "
                           + query.format(s=f"bench_part_{i}"))


def _teardown(clickhouse: Any) -> None:
    for i in range(len(PARTS)):
        clickhouse.command(f"DROP VIEW IF EXISTS bench_part_{i}_mv")
        clickhouse.command(f"DROP TABLE IF EXISTS bench_part_{i}")
    for table in ("bench_ids_null", "bench_events_null", "bench_events_plain", "bench_events_copy"):
        clickhouse.command(f"DROP TABLE IF EXISTS {table}")


def test_write_breakdown(clickhouse: Any, clickhouse_url: str) -> None:
    """Each part alone on the same containers, then the real write; the previous design on twin messages."""
    _setup(clickhouse)
    codec, tag = BatchCodec(), uuid.uuid4().hex[:6]
    per_flush = FLUSH_EVENTS // PER_MESSAGE
    values, twins = _messages(codec, per_flush * FLUSHES, tag), _messages(codec, per_flush * FLUSHES, tag + "p")
    logged = _messages(codec, per_flush * FLUSHES, tag + "e")
    shared = _messages(codec, per_flush * FLUSHES, tag + "s")
    writer = UsageWriter(clickhouse, lambda m, r: None)
    logged_writer = UsageWriter(clickhouse, lambda m, r: None, evidence=True)
    pair = UsageWriter(clickhouse, lambda m, r: None, helpers=[sibling(clickhouse, clickhouse_url)])
    parts: dict[str, list[tuple[float, float]]] = {}
    for f in range(FLUSHES):
        msgs = [Msg(v, i, i % 4, f"bench-{tag}") for i, v in enumerate(values[f * per_flush:(f + 1) * per_flush])]
        data, settings = _container(writer, msgs), insert_settings(len(msgs))
        for i, label in enumerate(PARTS):
            parts.setdefault(label, []).append(_timed(lambda: clickhouse.raw_insert(
                f"bench_part_{i}", insert_block=data, fmt="Avro", settings=settings)))
        parts.setdefault(REAL, []).append(_timed(
            lambda: writer.write({codec.schema.fingerprint: (codec.schema.schema, msgs)})))  # type: ignore[dict-item]
        on = [Msg(v, f * per_flush + i, i % 4, f"bench-{tag}e") for i, v in enumerate(logged[f * per_flush:(f + 1) * per_flush])]
        parts.setdefault(REAL_LOG, []).append(_timed(
            lambda: logged_writer.write({codec.schema.fingerprint: (codec.schema.schema, on)})))  # type: ignore[dict-item]
        two = [Msg(v, i, i % 4, f"bench-{tag}s") for i, v in enumerate(shared[f * per_flush:(f + 1) * per_flush])]
        parts.setdefault(REAL_SHARES, []).append(_timed(
            lambda: pair.write({codec.schema.fingerprint: (codec.schema.schema, two)})))  # type: ignore[dict-item]
        old = [Msg(v, i, i % 4, f"bench-{tag}p") for i, v in enumerate(twins[f * per_flush:(f + 1) * per_flush])]
        parts.setdefault(PREVIOUS, []).append(_timed(lambda: _previous(clickhouse, writer, old, 3 * 10**12 + f)))
    _teardown(clickhouse)
    print(f"\nsink write, part by part ({FLUSHES} flushes of {FLUSH_EVENTS:,} live-like events; "
          f"load average {os.getloadavg()[0]:.1f}; medians)")
    print(f"{'part':<58}{'events/s':>12}{'CPU µs/event':>14}")
    for label, runs in parts.items():
        wall = statistics.median(w for w, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        print(f"{label:<58}{FLUSH_EVENTS / wall:>12,.0f}{cpu / FLUSH_EVENTS * 1e6:>14.2f}")
    print(f"(CPU = {CPU_NOTE}; rollup views ≈ real write − usage_events copy; evidence log ≈ the difference of "
          "the two real writes)")

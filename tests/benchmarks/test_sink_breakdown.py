"""Where the sink's write goes, statement by statement: stage, the duplicate check, pricing, the audit
insert and the rollup cascade, each timed alone on the same staged flushes (a profile of the
ClickHouse side; Python's share of the sink is message handling and the Avro container).

Run: ``TZ=UTC .venv/bin/python -m pytest tests/benchmarks/test_sink_breakdown.py -m benchmark -s``.
BENCH_SINK_FLUSHES (default 3) flushes of 200,000 live-like events. Asserts nothing about speed.
"""

from __future__ import annotations

import os
import statistics
import time
import uuid
from typing import Any

import pytest

from meterstream.schemas import BatchCodec
from meterstream.sinks.usage_writer import EVENT_COLUMNS, MOVE_SQL, UsageWriter
from meterstream.sinks.pricing.lookup import price_key, priced_columns
from tests.benchmarks.test_sink_throughput import FLUSH_EVENTS, PER_MESSAGE, _messages
from tests.sinks.conftest import Msg

pytestmark = [pytest.mark.benchmark, pytest.mark.integration]
FLUSHES = int(os.environ.get("BENCH_SINK_FLUSHES", 3))
CPU_NOTE = "process CPU (chDB threads included) per event"

# The move's parts, each as a statement over one staged flush ({flush:UInt64}).


def dedup_sql() -> str | None:
    """The move's duplicate check as a count of new events, cut out of MOVE_SQL (None once the move no
    longer has that shape: the sink's write is being rewritten in parallel, and this must not break)."""
    _, sep, rest = MOVE_SQL.partition("AND event_id NOT IN (")
    check, sep2, _ = rest.partition("ORDER BY kafka_partition")
    if not (sep and sep2):
        return None
    return ("SELECT count() FROM usage_staging WHERE flush_id = {flush:UInt64} AND event_id NOT IN ("
            + check.rstrip().removesuffix(")") + ")")


PRICE = (f"SELECT sum(price_version) FROM (SELECT {EVENT_COLUMNS}, {priced_columns()} FROM (SELECT *, "
         f"{price_key()} AS price_key FROM usage_staging WHERE flush_id = {{flush:UInt64}}))")
PLAIN_INSERT = (f"INSERT INTO bench_events_plain ({EVENT_COLUMNS}, unit_price, cost, currency, price_version, "
                f"kafka_partition, kafka_offset) SELECT {EVENT_COLUMNS}, {priced_columns()}, kafka_partition, "
                f"kafka_offset FROM (SELECT *, {price_key()} AS price_key FROM usage_staging "
                f"WHERE flush_id = {{flush:UInt64}})")


def _timed(client: Any, sql: str, flush: int) -> tuple[float, float]:
    """Wall and process-CPU seconds of one statement."""
    cpu, t0 = time.process_time(), time.perf_counter()
    client.command(sql, parameters={"flush": flush})
    return time.perf_counter() - t0, time.process_time() - cpu


def test_move_breakdown(clickhouse: Any) -> None:
    """Stage each flush, then time its parts alone, then the real move (which includes them all)."""
    clickhouse.command("CREATE TABLE IF NOT EXISTS bench_events_plain AS usage_events ENGINE = MergeTree "
                       "PARTITION BY toYYYYMM(event_time) ORDER BY (license_id, event_time, event_id)")
    codec, tag = BatchCodec(), uuid.uuid4().hex[:6]
    per_flush = FLUSH_EVENTS // PER_MESSAGE
    values = _messages(codec, per_flush * FLUSHES, tag)
    writer = UsageWriter(clickhouse, lambda m, r: None)
    parts: dict[str, list[tuple[float, float]]] = {}
    for f in range(FLUSHES):
        flush = 2 * 10**12 + f
        msgs = [Msg(v, i) for i, v in enumerate(values[f * per_flush:(f + 1) * per_flush])]
        cpu, t0 = time.process_time(), time.perf_counter()
        writer._stage(flush, msgs)  # noqa: SLF001 - the stage statement alone
        parts.setdefault("stage: Avro → Null table → ARRAY JOIN MV → usage_staging", []).append(
            (time.perf_counter() - t0, time.process_time() - cpu))
        for label, sql in (("duplicate check alone (NOT IN over stored ids)", dedup_sql()),
                           ("pricing alone (dictionary lookups, no write)", PRICE),
                           ("priced insert into a plain MergeTree (no views)", PLAIN_INSERT),
                           ("the real move: check + price + insert + rollup views", MOVE_SQL)):
            if sql is not None:
                parts.setdefault(label, []).append(_timed(clickhouse, sql, flush))
        clickhouse.command(f"ALTER TABLE usage_staging DROP PARTITION {flush}")
    clickhouse.command("DROP TABLE bench_events_plain")
    print(f"\nsink write, statement by statement ({FLUSHES} flushes of {FLUSH_EVENTS:,} live-like events; "
          f"load average {os.getloadavg()[0]:.1f}; medians)")
    print(f"{'part':<58}{'events/s':>12}{'CPU µs/event':>14}")
    for label, runs in parts.items():
        wall = statistics.median(w for w, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        print(f"{label:<58}{FLUSH_EVENTS / wall:>12,.0f}{cpu / FLUSH_EVENTS * 1e6:>14.2f}")
    print(f"(CPU = {CPU_NOTE}; the rollup cascade's cost ≈ real move − plain insert − duplicate check)")

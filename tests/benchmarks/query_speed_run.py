"""Times every query-pack entry on generated data; run as a child process by ``test_query_speed.py``.

A child of its own because chDB opens one data directory per process: the benchmark's 10 million
events must not land in the session's ClickHouse that other tests and benchmarks share.
Usage: ``python -m tests.benchmarks.query_speed_run DIR EVENTS LICENSES REPEATS``.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Any

from meterstream.sinks import query_pack
from meterstream.sinks.clickhouse import connect
from meterstream.sinks.migrations import migrate
from tests.benchmarks.query_data import BUSIEST, insert_events, insert_neighbours

ROLLUPS = ("usage_hourly", "usage_daily", "usage_monthly", "usage_spend", "usage_license_monthly")
MONTH = {"start": "2026-11-01 00:00:00", "end": "2026-12-01 00:00:00"}
DAY = {"start": "2026-11-15 00:00:00", "end": "2026-11-16 00:00:00"}


@dataclass
class Timing:
    """One entry's figures: median and min ms over the repeats, rows answered, what it read."""

    name: str
    median_ms: float
    min_ms: float
    rows: int
    target_ms: float | None
    target_why: str
    reads: str


def params_for(name: str, sql: str, client: Any) -> dict[str, str]:
    """Sensible values for every parameter an entry declares; an unknown parameter name fails loudly,
    so a new entry's parameter gets a value here instead of silently going untimed."""
    declared = query_pack.parameters(sql)
    window = DAY if "license" in declared else MONTH  # a license's audit question is one day of it
    known: dict[str, str] = {**window, "license": BUSIEST, "month": "2026-11-01", "start_month": "2026-09-01",
                             "end_month": "2026-11-01", "metric": "output_tokens", "top": "20",
                             "use_case": "uc-0", "category": "customer", "at": "2026-11-15 00:00:00", "days": "30"}
    if "trace" in declared:
        known["trace"] = str(client.command(
            "SELECT trace_id FROM usage_events WHERE trace_id IS NOT NULL AND license_id = {l:String} LIMIT 1",
            parameters={"l": BUSIEST}))
    missing = sorted(set(declared) - set(known))
    if missing:
        raise SystemExit(f"query {name}: no benchmark value for parameter(s) {missing}; add one in params_for")
    return {k: known[k] for k in declared}


def target(name: str, sql: str) -> tuple[float | None, str]:
    """The issue's target for an entry: spend questions answered from rollups ≤ 50 ms (a spend entry that
    reads raw events is held to it too: that is what a finance page waits on); one license's audit
    day ≤ 100 ms; other entries (compliance scans over a month of raw events) have no stated target."""
    if any(t in sql for t in ROLLUPS) or name.startswith(("spend", "budget", "tiered")):
        return 50.0, "spend (rollup)"
    if "{license:" in sql:
        return 100.0, "license audit day"
    return None, "none stated"


def reads(client: Any, sql: str, params: dict[str, str]) -> str:
    """Which tables the entry reads and how many rows ClickHouse expects to read in each (EXPLAIN ESTIMATE)."""
    try:
        rows = client.query(f"EXPLAIN ESTIMATE {sql.strip().rstrip(';')}", parameters=params).result_rows
    except Exception as exc:  # noqa: BLE001 - an estimate is a diagnostic, never a failure
        return f"(no estimate: {str(exc).splitlines()[0][:80]})"
    return ", ".join(f"{table} {int(n):,} rows/{int(parts)} parts" for _, table, parts, n, _ in rows)


def time_entry(client: Any, name: str, repeats: int) -> Timing:
    """One warm-up run, then ``repeats`` timed runs through the runner `meterstream sql` uses."""
    sql = query_pack.text(name)
    params = params_for(name, sql, client)
    _, rows = query_pack.run(client, sql, params)
    took = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        query_pack.run(client, sql, params)
        took.append((time.perf_counter() - t0) * 1000)
    goal, why = target(name, sql)
    return Timing(name, statistics.median(took), min(took), len(rows), goal, why, reads(client, sql, params))


def baselines(client: Any, repeats: int) -> dict[str, float]:
    """Median ms of plain reads of the same data: a full scan of one column, and a rollup scan."""
    out = {}
    for label, sql in (("full scan: sum(quantity) over all of usage_events", "SELECT sum(quantity) FROM usage_events"),
                       ("one license-day, key range only: count()", "SELECT count() FROM usage_events WHERE "
                        f"license_id = '{BUSIEST}' AND event_time >= '{DAY['start']}' AND event_time < '{DAY['end']}'"),
                       ("usage_daily scan: sum(cost)", "SELECT sum(cost) FROM usage_daily")):
        client.query(sql)
        took = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            client.query(sql)
            took.append((time.perf_counter() - t0) * 1000)
        out[label] = statistics.median(took)
    return out


def report(client: Any, events: int, licenses: int, insert_s: tuple[float, float], timings: list[Timing],
           base: dict[str, float], repeats: int) -> None:
    counts = {t: int(str(client.command(f"SELECT count() FROM {t}"))) for t in ("usage_events", *ROLLUPS)}
    parts = {t: int(str(client.command(f"SELECT count() FROM system.parts WHERE active AND table = '{t}'")))
             for t in counts}
    busiest = int(str(client.command(f"SELECT count() FROM usage_events WHERE license_id = '{BUSIEST}'")))
    print(f"\nQuery speed on {events:,} generated events ({licenses:,} licenses; {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}; median and min of {repeats} runs after one warm-up)")
    wall, cpu = insert_s
    print(f"inserted in {wall:.1f} s = {events / wall:,.0f} events/s, rollup views included "
          f"(process CPU {cpu:.1f} s = {cpu / events * 1e6:.1f} µs per event)")
    print("rows (active parts): " + ", ".join(f"{t} {n:,} ({parts[t]})" for t, n in counts.items())
          + f"; busiest license {BUSIEST}: {busiest:,} events")
    print(f"\n{'entry':<26}{'median ms':>10}{'min ms':>9}{'target':>9}  {'':<4}{'rows':>7}  kind / reads")
    for t in timings:
        verdict = "" if t.target_ms is None else ("ok" if t.median_ms <= t.target_ms else "MISS")
        goal = "—" if t.target_ms is None else f"≤{t.target_ms:.0f}"
        print(f"{t.name:<26}{t.median_ms:>10.1f}{t.min_ms:>9.1f}{goal:>9}  {verdict:<4}{t.rows:>7}  "
              f"{t.target_why}; {t.reads}")
    print("\nbaselines in the same run (median ms):")
    for label, ms in base.items():
        print(f"  {label:<58}{ms:>8.1f}")


def settle(client: Any, timeout: float = 300.0) -> float:
    """Wait (bounded) until no background merge runs: timings taken while the inserts' parts are still
    merging measure the merges as much as the queries. Returns the seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < timeout and int(str(client.command("SELECT count() FROM system.merges"))):
        time.sleep(1)
    return time.monotonic() - started


def main(path: str, events: int, licenses: int, repeats: int) -> None:
    client = connect(f"chdb://{path}")
    migrate(client)
    insert_neighbours(client, events, licenses)
    insert_s = insert_events(client, events, licenses)
    print(f"background merges settled after {settle(client):.0f} s")
    timings = [time_entry(client, name, repeats) for name in query_pack.names()]
    report(client, events, licenses, insert_s, timings, baselines(client, repeats), repeats)
    missed = [t.name for t in timings if t.target_ms is not None and t.median_ms > t.target_ms]
    print(f"\nentries timed: {len(timings)} of {len(query_pack.names())}; over target: {', '.join(missed) or 'none'}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))

"""End to end on one machine: producers (the real ``Meter``, child processes) → Kafka → one processor
worker (``meterstream processor``) → alerts, and the sink (``meterstream sink``, usage and alerts
consumers, embedded ClickHouse) — sustained events/s and the latencies a user sees.

Run: ``METERSTREAM_TEST_KAFKA_PORT=20192 make bench PYTEST_ARGS='-k end_to_end'`` (or
``TZ=UTC .venv/bin/python -m pytest tests/benchmarks/test_end_to_end_bench.py -m benchmark -s``).
Sizes: BENCH_E2E_EVENTS (default 1,000,000), BENCH_E2E_LICENSES (100), BENCH_E2E_PRODUCERS (2),
BENCH_E2E_RATE (total events/s the producers aim at; 0 = as fast as they can), BENCH_E2E_LINGER_MS (the
producers' ``linger_ms``; default the Meter's own, 50: at a paced rate it decides how many events a message
holds, and so how many messages the worker pays for).

Figures: events/s from the first ``record()`` to the last event stored in ClickHouse; event →
quota state p50/p99 (the worker's ``/v1/stats``: state written − newest event time of the message);
event → alert p50/p99 (alert ``created_at`` − event time of the event that crossed the threshold,
joined in ClickHouse by the alert's ``event_id``); event → ClickHouse p50/p99 (``ingested_at`` −
``event_time`` of every event). Baselines in the same run: the producers alone (record → acked) and
the worker's own rate while busy. Asserts correctness only (every event stored once, every
threshold alert fired), never timing.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition

from meterstream.config import Topics
from meterstream.process import get_json, spawn, terminate
from meterstream.producers import Meter
from meterstream.stream_processors.license.admin import LicenseAdmin
from meterstream.stream_processors.license.terms import LicenseTerms, quota
from tests.benchmarks.e2e_producer import OUTPUT_TOKENS, license_ids
from tests.benchmarks.test_processor_benchmark import cpu_seconds
from tests.helpers import wait_for

pytestmark = [pytest.mark.benchmark, pytest.mark.integration, pytest.mark.timeout(1800)]

EVENTS = int(os.environ.get("BENCH_E2E_EVENTS", 1_000_000))
LICENSES = int(os.environ.get("BENCH_E2E_LICENSES", 100))
PRODUCERS = int(os.environ.get("BENCH_E2E_PRODUCERS", 2))
EVENTS -= EVENTS % PRODUCERS  # each producer sends the same number
RATE = float(os.environ.get("BENCH_E2E_RATE", 0))
LINGER_MS = os.environ.get("BENCH_E2E_LINGER_MS", "")
THRESHOLDS = (50, 80, 100)
ROOT = Path(__file__).resolve().parents[2]


def publish_terms(admin: LicenseAdmin) -> None:
    """Monthly output-token quotas at 60% of what each license will use, so 50/80/100% fire mid-run."""
    per_license = Decimal(EVENTS) / LICENSES / 2 * OUTPUT_TOKENS
    admin.publish_many([LicenseTerms(lid, tier="pro", tenant="bench", quotas={
        "output_tokens": quota("output_tokens", per_license * Decimal("0.6"), "month", thresholds=THRESHOLDS)})
        for lid in license_ids(LICENSES)])


def committed_to_end(bootstrap: str, group: str, topic: str) -> bool:
    """Whether ``group`` has committed every partition of ``topic`` up to its end (the sink wrote it all)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        partitions = c.list_topics(topic, timeout=10).topics[topic].partitions
        tps = c.committed([TopicPartition(topic, i) for i in partitions], timeout=10)
        return all(tp.offset == c.get_watermark_offsets(tp, timeout=10)[1] for tp in tps)
    except Exception:  # noqa: BLE001 - the coordinator may move while the group forms: ask again
        return False
    finally:
        c.close()


def warm_up(env: dict[str, str], worker_url: str, topics: Topics, spool: Path) -> None:
    """One input-token event per license through the whole pipeline, so group joins, license lookups and
    first-message costs are paid before the clock starts (input tokens: the output quota stays untouched)."""
    with Meter(kafka_bootstrap_servers=env["METERSTREAM_KAFKA_BOOTSTRAP_SERVERS"],
               topic_prefix=env["METERSTREAM_TOPIC_PREFIX"], spool_dir=spool, model="llama-3") as meter:
        for lid in license_ids(LICENSES):
            meter.record(lid, "input_tokens", 1)
        meter.flush(60)
    wait_for(lambda: get_json(f"{worker_url}/v1/stats")["counted"] >= LICENSES, 180, what="warm-up counted")
    wait_for(lambda: committed_to_end(env["METERSTREAM_KAFKA_BOOTSTRAP_SERVERS"], env["METERSTREAM_SINK_GROUP"],
                                      topics.usage), 180, interval=1, what="warm-up stored")


def run_producers(env: dict[str, str], tmp_path: Path) -> list[dict[str, Any]]:
    """Start the producer processes together; wait for each to report (every event acknowledged)."""
    per = EVENTS // PRODUCERS
    procs = [subprocess.Popen([sys.executable, "-m", "tests.benchmarks.e2e_producer",
                               env["METERSTREAM_KAFKA_BOOTSTRAP_SERVERS"], env["METERSTREAM_TOPIC_PREFIX"],
                               str(tmp_path / f"spool{i}"), str(per), str(LICENSES), str(i), str(RATE / PRODUCERS)],
                              cwd=ROOT, stdout=subprocess.PIPE,
                              env={**os.environ, "TZ": "UTC", **({"METERSTREAM_LINGER_MS": LINGER_MS} if LINGER_MS else {})})
             for i in range(PRODUCERS)]
    out = []
    for p in procs:
        stdout, _ = p.communicate(timeout=900)
        assert p.returncode == 0, stdout
        out.append(json.loads(stdout.decode().strip().splitlines()[-1]))
    return out


def sql(url: str, statement: str) -> dict[str, Any]:
    """One row from the sink's (stopped) embedded ClickHouse, through ``meterstream sql``."""
    out = subprocess.run([sys.executable, "-m", "meterstream.cli", "sql", statement, "--format", "json", "--url", url],
                         capture_output=True, text=True, timeout=300, check=True, cwd=ROOT).stdout
    return dict(json.loads(out.splitlines()[0]))


def stored_figures(url: str, since_us: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Events and alerts of the timed run as ClickHouse holds them, with their latencies (ms)."""
    since = f"fromUnixTimestamp64Micro({since_us}, 'UTC')"
    events = sql(url, f"""
        SELECT count() AS n, uniqExact(event_id) AS ids, toUnixTimestamp64Milli(max(ingested_at)) AS last_ms,
               quantileExact(0.5)(dateDiff('ms', event_time, ingested_at)) AS p50,
               quantileExact(0.99)(dateDiff('ms', event_time, ingested_at)) AS p99,
               max(dateDiff('ms', event_time, ingested_at)) AS max
        FROM usage_events WHERE event_time >= {since}""")
    alerts = sql(url, f"""
        SELECT count() AS n, countIf(e.event_id IS NOT NULL) AS joined,
               quantileExact(0.5)(dateDiff('ms', e.event_time, a.created_at)) AS p50,
               quantileExact(0.99)(dateDiff('ms', e.event_time, a.created_at)) AS p99,
               max(dateDiff('ms', e.event_time, a.created_at)) AS max,
               quantileExact(0.99)(dateDiff('ms', e.event_time, a.ingested_at)) AS stored_p99
        FROM (SELECT * FROM alerts FINAL WHERE kind = 'threshold') AS a
        INNER JOIN (SELECT toString(event_id) AS event_id, event_time FROM usage_events
                    WHERE event_time >= {since}) AS e ON e.event_id = a.event_id""")
    return events, alerts


def _linger() -> str:
    from meterstream.producers.settings import ProducerSettings
    return LINGER_MS or f"{ProducerSettings().linger_ms} (the Meter's default)"


def _rate(n: float, seconds: float) -> str:
    return f"{n / seconds:>10,.0f} events/s"


def report(prods: list[dict[str, Any]], first_us: int, worker_done_s: float, stats: dict[str, Any],
           warm_messages: int, events: dict[str, Any], alerts: dict[str, Any], load: tuple[float, float],
           worker_cpu_s: float) -> None:
    e2e_s = events["last_ms"] / 1000 - first_us / 1e6
    prod_s = max(p["flushed_s"] for p in prods)
    lat = stats["latency_ms"]
    print(f"\n\nEnd to end: {EVENTS:,} events over {LICENSES} licenses, {PRODUCERS} producer processes, "
          f"1 processor worker, 1 sink process ({os.cpu_count()} cores, load average {load[0]:.1f} at start, "
          f"{load[1]:.1f} at end; rate {'unpaced' if not RATE else f'{RATE:,.0f}/s'}; producers' linger "
          f"{_linger()} ms)")
    print(f"{'figure':<44}{'measured':>24}   target")
    print(f"{'sustained, first record() → last row stored':<44}{_rate(EVENTS, e2e_s):>24}   ≥ 100,000 events/s"
          f" ({e2e_s:.1f} s)")
    messages = stats["messages"] - warm_messages
    print(f"{'  processor: first record() → all counted':<44}{_rate(EVENTS, worker_done_s):>24}"
          f"   (±0.5 s polling; {messages:,} messages, {EVENTS / max(messages, 1):,.0f} events each)")
    print(f"{'  processor: worker process CPU':<44}{worker_cpu_s / EVENTS * 1e6:>18,.2f} µs/event"
          f"   ({worker_cpu_s / max(messages, 1) * 1e6:,.0f} µs per message, all threads, idle time included)")
    print(f"{'  baseline: producers alone (record → acked)':<44}{_rate(EVENTS, prod_s):>24}"
          f"   (CPU {sum(p['cpu_s'] for p in prods) / EVENTS * 1e6:.2f} µs/event over {PRODUCERS} processes)")
    print(f"{'event → quota state p50 / p99':<44}{lat['p50']:>11,.0f} / {lat['p99']:,.0f} ms   "
          f"(max {lat['max']:,.0f} ms; {lat['samples']} messages, newest event of each)")
    print(f"{'event → alert p50 / p99':<44}{alerts['p50']:>11,.0f} / {alerts['p99']:,.0f} ms   p99 ≤ 1,000 ms"
          f" (max {alerts['max']:,.0f} ms; {alerts['joined']} threshold alerts; stored in ClickHouse p99 "
          f"{alerts['stored_p99']:,.0f} ms)")
    print(f"{'event → ClickHouse p50 / p99':<44}{events['p50']:>11,.0f} / {events['p99']:,.0f} ms   "
          f"(max {events['max']:,.0f} ms; ingested_at − event_time of every event)")


def test_end_to_end(kafka_env: dict[str, str], topics: Topics, admin: LicenseAdmin, start_worker: Any,
                    tmp_path: Path) -> None:
    url = f"chdb://{tmp_path / 'e2e-ch'}"
    sink_env = {**kafka_env, "METERSTREAM_CLICKHOUSE_URL": url, "METERSTREAM_SINK_CONSUMERS": "usage,alerts"}
    publish_terms(admin)
    sink = spawn(["sink"], tmp_path / "sink.log", sink_env)
    try:
        worker = start_worker("e2e")
        warm_up(kafka_env, worker.url, topics, tmp_path / "warm-spool")
        warm_messages = get_json(f"{worker.url}/v1/stats?reset_latency=1")["messages"]
        load0, cpu0 = os.getloadavg()[0], cpu_seconds(worker.proc.pid)
        prods = run_producers(kafka_env, tmp_path)
        first_us = min(p["first_us"] for p in prods)
        wait_for(lambda: get_json(f"{worker.url}/v1/stats")["counted"] >= LICENSES + EVENTS, 600, interval=0.5,
                 what="every event counted")
        worker_done_s = time.time() - first_us / 1e6
        worker_cpu_s = cpu_seconds(worker.proc.pid) - cpu0
        stats = get_json(f"{worker.url}/v1/stats")
        bootstrap = kafka_env["METERSTREAM_KAFKA_BOOTSTRAP_SERVERS"]
        for topic, group in ((topics.usage, kafka_env["METERSTREAM_SINK_GROUP"]),
                             (topics.alerts, f"{kafka_env['METERSTREAM_SINK_GROUP']}.alerts")):
            wait_for(functools.partial(committed_to_end, bootstrap, group, topic), 600, interval=1,
                     what=f"{topic} stored")
    finally:
        assert terminate(sink) == 0, (tmp_path / "sink.log").read_text()[-3000:]
    assert sum(p["delivered"] for p in prods) == EVENTS
    events, alerts = stored_figures(url, first_us)
    assert (events["n"], events["ids"]) == (EVENTS, EVENTS)
    assert alerts["joined"] == LICENSES * len(THRESHOLDS), alerts
    report(prods, first_us, worker_done_s, stats, warm_messages, events, alerts, (load0, os.getloadavg()[0]), worker_cpu_s)

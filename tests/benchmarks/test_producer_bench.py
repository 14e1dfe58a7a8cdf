"""Producer benchmark: caller-thread cost of record() and sustained events/s into the local broker,
each beside a raw confluent-kafka produce loop of the same bytes, measured in the same run.

Run: ``TZ=UTC .venv/bin/python -m pytest tests/benchmarks/test_producer_bench.py -m benchmark -s``
(environment: BENCH_CALLS, BENCH_EVENTS to change the sizes).
"""

from __future__ import annotations

import cProfile
import io
import os
import pstats
import statistics
import time
from pathlib import Path
from typing import Any, Callable

import pytest
from confluent_kafka import Consumer, Producer

from meterstream.config import KafkaSettings, Topics
from meterstream.producers import Meter
from meterstream.producers.batch import BatchBuilder
from meterstream.producers.delivery import producer_config
from meterstream.producers.settings import ProducerSettings
from meterstream.kafka.topics import ensure_topics, pipeline_topics

pytestmark = [pytest.mark.benchmark, pytest.mark.integration]

CALLS = int(os.environ.get("BENCH_CALLS", 200_000))
EVENTS = int(os.environ.get("BENCH_EVENTS", 1_000_000))
LICENSES = [f"lic-{i:03d}" for i in range(100)]
FIELDS: dict[str, Any] = {"model_version": "3.1", "feature": "chat", "latency_us": 12_345}


def _percentiles(ns: list[int]) -> tuple[float, float]:
    ns.sort()
    return ns[len(ns) // 2] / 1000, ns[int(len(ns) * 0.99)] / 1000


def _time_calls(fn: Callable[[int], Any], n: int) -> list[int]:
    pc = time.perf_counter_ns
    out = []
    for i in range(n):
        t0 = pc()
        fn(i)
        out.append(pc() - t0)
    return out


def _meter(bootstrap: str, prefix: str, spool: Path, **kw: Any) -> Meter:
    return Meter(kafka_bootstrap_servers=bootstrap, topic_prefix=prefix, spool_dir=spool, model="llama-3",
                 team="search", app="chat", environment="prod", region="eu-west-1", **kw)


def caller_cost(bootstrap: str, prefix: str, spool: Path) -> dict[str, tuple[float, float]]:
    """Median and p99 (µs) of one record() call, and of one raw produce() of a one-event message."""
    rows: dict[str, tuple[float, float]] = {}
    with _meter(bootstrap, prefix, spool) as meter:
        rec = meter.record
        rows["record(): 3 fields"] = _percentiles(_time_calls(
            lambda i: rec(LICENSES[i % 100], "output_tokens", i % 2000, **FIELDS), CALLS))
        payload = b"x" * 1024
        rows["record(): + hash 1 KB input and output"] = _percentiles(_time_calls(
            lambda i: rec(LICENSES[i % 100], "output_tokens", 7, input=payload, output=payload, **FIELDS),
            CALLS // 4))
        meter.flush(120)
    with _meter(bootstrap, prefix, spool / "idle", linger_ms=60_000, batch_max_events=100_000,
                buffer_max_events=10**7) as meter:
        rows["record(): 3 fields, flusher idle (no GIL contention)"] = _percentiles(_time_calls(
            lambda i: meter.record(LICENSES[i % 100], "output_tokens", i % 2000, **FIELDS), CALLS))
    with _meter(bootstrap, prefix, spool / "strict", fsync="always") as meter:
        rows["record(): strict mode (fsync=always)"] = _percentiles(_time_calls(
            lambda i: meter.record(LICENSES[i % 100], "output_tokens", 7, **FIELDS), 2000))
    settings = ProducerSettings(kafka_bootstrap_servers=bootstrap, topic_prefix=prefix, model="llama-3")
    builder = BatchBuilder(settings, "bench")
    one = builder.build("lic-000", ["00000000-0000-8000-8000-000000000000", time.time_ns(),
                                    "output_tokens", 7 * 10**6, "chat", None, "3.1", "ok", 12345, None,
                                    None, None, None, None, None, None, None, None])  # one row, flat
    raw = Producer(producer_config(settings))
    topic, key = settings.usage, b"lic-000"

    def produce(i: int) -> None:
        raw.produce(topic, one, key)
        raw.poll(0)
    rows["raw produce() of a 1-event message"] = _percentiles(_time_calls(produce, CALLS))
    raw.flush(120)
    return rows


def sustained(bootstrap: str, prefix: str, spool: Path) -> tuple[float, float, float, float, float]:
    """events/s of record() x EVENTS then flush() (acks included); CPU µs per event of the whole
    process (caller, flusher and librdkafka threads), of the calling thread and of the flusher thread
    (their clocks); share of the time spent in the record() loop."""
    with _meter(bootstrap, prefix, spool) as meter:
        rec = meter.record
        flusher_clock = time.pthread_getcpuclockid(meter._thread.ident or 0)
        cpu0, t0 = time.process_time(), time.perf_counter()
        caller0, flusher0 = time.thread_time(), time.clock_gettime(flusher_clock)
        for i in range(EVENTS):
            rec(LICENSES[i % 100], "output_tokens", i % 2000, **FIELDS)
        t_rec = time.perf_counter() - t0
        meter.flush(300)
        took = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        caller, flusher = time.thread_time() - caller0, time.clock_gettime(flusher_clock) - flusher0
        assert meter.stats.delivered_events == EVENTS
    return EVENTS / took, cpu / EVENTS * 1e6, caller / EVENTS * 1e6, flusher / EVENTS * 1e6, t_rec / took


def read_messages(bootstrap: str, topic: str, events: int) -> list[tuple[bytes, bytes]]:
    """The exact messages the meter produced, read back (to replay them through the raw client)."""
    from meterstream.schemas.codec import batch_count

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-{time.time_ns()}",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe([topic])
    out, seen = [], 0
    deadline = time.monotonic() + 120
    while seen < events and time.monotonic() < deadline:
        for m in c.consume(10_000, 0.5):
            if m.error() is None:
                out.append((m.key() or b"", m.value() or b""))
                seen += batch_count(m.value() or b"")
    c.close()
    assert seen == events, f"read {seen} of {events} events back"
    return out


def raw_loop(bootstrap: str, prefix: str, messages: list[tuple[bytes, bytes]], events: int) -> tuple[float, float]:
    """events/s of a plain produce loop of the same messages (same producer settings), flush included,
    and CPU µs per event of the process."""
    settings = ProducerSettings(kafka_bootstrap_servers=bootstrap, topic_prefix=prefix)
    p = Producer(producer_config(settings))
    topic = settings.usage
    cpu0, t0 = time.process_time(), time.perf_counter()
    for key, value in messages:
        while True:
            try:
                p.produce(topic, value, key)
                break
            except BufferError:
                p.poll(0.01)
        p.poll(0)
    assert p.flush(300) == 0
    return events / (time.perf_counter() - t0), (time.process_time() - cpu0) / events * 1e6


def profile_flusher(bootstrap: str, prefix: str, spool: Path) -> str:
    """Where the meter's time goes: cProfile of record() + flush of 200k events (both threads' work
    lands in the profile of the caller when the flusher runs inline in flush())."""
    meter = _meter(bootstrap, prefix, spool, linger_ms=60_000, batch_max_events=100_000)
    prof = cProfile.Profile()
    prof.enable()
    for i in range(200_000):
        meter.record(LICENSES[i % 100], "output_tokens", i % 2000, **FIELDS)
    meter.close(120)
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(12)
    return buf.getvalue()


def test_producer_benchmark(kafka_bootstrap: str, tmp_path: Path) -> None:
    rounds = int(os.environ.get("BENCH_ROUNDS", 3))
    prefixes = [f"bench{time.time_ns()}-{i}." for i in range(2 + 2 * rounds)]
    for p in prefixes:
        ensure_topics(KafkaSettings(kafka_bootstrap_servers=kafka_bootstrap), pipeline_topics(Topics(topic_prefix=p)))
    load = os.getloadavg()[0]
    costs = caller_cost(kafka_bootstrap, prefixes[0], tmp_path / "s0")
    rates, raw_rates, shares, cpus, raw_cpus, callers, flushers = [], [], [], [], [], [], []
    for r in range(rounds):  # alternate the two so a change of machine load hits both alike
        meter_prefix, raw_prefix = prefixes[2 + 2 * r], prefixes[3 + 2 * r]
        rate, cpu, caller, flusher, share = sustained(kafka_bootstrap, meter_prefix, tmp_path / f"s{r}")
        callers.append(caller)
        flushers.append(flusher)
        messages = read_messages(kafka_bootstrap, f"{meter_prefix}usage", EVENTS)
        raw_rate, raw_cpu = raw_loop(kafka_bootstrap, raw_prefix, messages, EVENTS)
        rates.append(rate)
        cpus.append(cpu)
        shares.append(share)
        raw_rates.append(raw_rate)
        raw_cpus.append(raw_cpu)
    profile = profile_flusher(kafka_bootstrap, prefixes[1], tmp_path / "sp")
    print(f"\n\nProducer benchmark ({os.cpu_count()} cores, load average {load:.1f} at start, "
          f"local Kafka at {kafka_bootstrap})")
    print(f"{'caller-thread cost (µs)':<56}{'median':>9}{'p99':>10}   ({CALLS} calls, 100 licenses)")
    for name, (med, p99) in costs.items():
        print(f"  {name:<54}{med:>9.2f}{p99:>10.2f}")
    size = statistics.mean(len(v) for _, v in messages)
    print(f"{'sustained, record() x N then flush() with acks':<56}{statistics.median(rates):>9,.0f} events/s "
          f"(runs: {', '.join(f'{x:,.0f}' for x in rates)}; N={EVENTS}; record() loop = "
          f"{statistics.median(shares):.0%} of the time; process CPU {statistics.median(cpus):.2f} µs/event: "
          f"caller thread {statistics.median(callers):.2f}, flusher thread {statistics.median(flushers):.2f})")
    print(f"{'raw produce loop of the same messages':<56}{statistics.median(raw_rates):>9,.0f} events/s "
          f"(runs: {', '.join(f'{x:,.0f}' for x in raw_rates)}; {len(messages)} messages, "
          f"mean {size:,.0f} bytes, lz4, idempotent, acks=all; process CPU "
          f"{statistics.median(raw_cpus):.2f} µs/event)")
    print("\nprofile of record() x 200k + close() (flusher work runs inline in close()):\n" + profile)

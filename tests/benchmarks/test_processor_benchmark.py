"""Processor figures: events/s through the quota and anomaly logic, and produce -> quota-state latency.

Run with ``make bench`` (or ``TZ=UTC .venv/bin/python -m pytest tests/benchmarks/test_processor_benchmark.py
-m benchmark -s``). Prints the figures quoted in the README; asserts only correctness, never timing.
"""

from __future__ import annotations

import os
import time
import urllib.error
from pathlib import Path
from typing import Any

import pytest

from meterstream.process import get_json
from meterstream.schemas import BatchCodec
from meterstream.stream_processors.license.terms import quota
from meterstream.stream_processors.metering import FIELDS, MeteringRules, apply_message
from meterstream.stream_processors.state_codec import decode_state, encode_state
from meterstream.stream_processors.state_table import LicenseStates
from meterstream.stream_processors.stats import percentile
from tests.helpers import wait_for
from tests.stream_processors.conftest import RawProducer
from tests.stream_processors.factory import US, columns, terms

pytestmark = [pytest.mark.benchmark, pytest.mark.integration]

BATCH = 500
SMALL = 20  # events per message a live-rate Meter sends (100 licenses at 20,000 events/s, linger 50 ms)


def encoded_batches(license_id: str, n: int, now: int, producer: str, size: int = BATCH) -> list[bytes]:
    codec = BatchCodec()
    out = []
    for i in range(n):
        cols = columns(size, start_seq=i * size, t0=now + i * size, step_us=1, producer=producer, quantity=1)
        cols["metric"] = ["input_tokens", "output_tokens"] * (size // 2)
        full = {**cols, "license_id": [license_id] * size, "status": ["ok"] * size,
                "latency_us": [None] * size, "app": [""] * size, "environment": [""] * size,
                "purpose": [""] * size, "input_hash": [None] * size, "output_hash": [None] * size}
        out.append(codec.encode(full))
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc), all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def drain(worker: Any, total: int, timeout: float = 600) -> tuple[dict[str, Any], float]:
    """Wait until the worker has applied ``total`` events; return its stats and its process CPU per event
    (µs, all threads) from the first applied message on, so the start (recovery, group join) is not in it."""
    url = f"{worker.url}/v1/stats"
    start: tuple[float, int] | None = None
    deadline = time.monotonic() + timeout
    while True:
        stats = get_json(url)
        if start is None and stats["events"]:
            start = (cpu_seconds(worker.proc.pid), stats["events"])
        if stats["events"] >= total:
            break
        assert time.monotonic() < deadline, f"backlog not drained in {timeout}s: {stats}"
        time.sleep(0.1)  # each poll sorts the latency samples: keep it rare
    cpu0, events0 = start or (cpu_seconds(worker.proc.pid), 0)
    used = cpu_seconds(worker.proc.pid) - cpu0
    return stats, used / max(stats["events"] - events0, 1) * 1e6


def logic_rate(values: list[bytes], size: int) -> float:
    """Events/s of decode + apply_message over ``values`` in this process (one license, no Kafka)."""
    codec, rules, state = BatchCodec(), MeteringRules(), None
    t = terms(quotas={"input_tokens": quota("input_tokens", 10**11, "month", hard=True)})
    started = time.perf_counter()
    for offset, value in enumerate(values):
        batch = codec.decode(value, fields=FIELDS)
        state, applied = apply_message(state, "bench", t, offset, batch.columns, rules)
        assert applied.counted == size
    return len(values) * size / (time.perf_counter() - started)


def test_logic_events_per_second_in_process() -> None:
    """Decode (only the needed columns) + apply_message, no Kafka: the per-event cost of the logic."""
    codec = BatchCodec()
    t = terms(quotas={"input_tokens": quota("input_tokens", 10**9, "month", hard=True),
                      "output_tokens": quota("output_tokens", 10**9, "rolling:3600")})
    values = encoded_batches("bench", 200, time.time_ns() // 1000, "p")
    rules = MeteringRules()
    state = None
    started = time.perf_counter()
    for offset, value in enumerate(values):
        batch = codec.decode(value, fields=FIELDS)
        state, applied = apply_message(state, "bench", t, offset, batch.columns, rules)
        assert applied.counted == BATCH
    took = time.perf_counter() - started
    events = len(values) * BATCH
    print(f"\nlogic in process: {events} events in {took:.3f}s = {events / took:,.0f} events/s "
          f"({took / len(values) * 1e6:,.0f} us per {BATCH}-event message, decode included)")


def test_state_codec_per_message() -> None:
    """The worker's state work per message (save = encode; load = decode only after a restore), and its size."""
    t = terms(quotas={"input_tokens": quota("input_tokens", 10**9, "month", hard=True),
                      "output_tokens": quota("output_tokens", 10**9, "rolling:3600")})
    codec, rules, states = BatchCodec(), MeteringRules(), LicenseStates({})
    cols = [codec.decode(v, fields=FIELDS).columns for v in encoded_batches("bench", 200, time.time_ns() // 1000, "p")]
    started = time.perf_counter()
    for offset, c in enumerate(cols):
        state, _ = apply_message(states.load(b"bench"), "bench", t, offset, c, rules)
        states.save(b"bench", state)
    per_message = (time.perf_counter() - started) / len(cols) * 1e6
    raw = encode_state(state)
    n = 2000
    started = time.perf_counter()
    for _ in range(n):
        encode_state(state)
    encode_us = (time.perf_counter() - started) / n * 1e6
    started = time.perf_counter()
    for _ in range(n):
        decode_state(raw, "bench")
    decode_us = (time.perf_counter() - started) / n * 1e6
    assert decode_state(raw, "bench") == state
    print(f"\nstate: {len(raw)} bytes, encode {encode_us:.1f} us, decode {decode_us:.1f} us; load + apply + save "
          f"{per_message:,.0f} us per {BATCH}-event message")


def test_worker_throughput_and_latency(start_worker: Any, admin: Any, kafka_bootstrap: str, topics: Any) -> None:
    """A backlog drained by one worker (events/s), then steady traffic (produce -> state latency)."""
    lids = [f"bench-{i}" for i in range(50)]
    admin.publish_many([terms(lid, quotas={"input_tokens": quota("input_tokens", 10**11, "month", hard=True)})
                        for lid in lids] + [terms("bench-hard", quotas={"input_tokens": quota("input_tokens", 1000,
                                                                                                 "month", hard=True)})])
    p = RawProducer(kafka_bootstrap, topics)
    now = time.time_ns() // 1000
    per_license = 8  # 50 licenses x 8 messages x 500 events = 200,000 events
    for lid in lids:
        for value in encoded_batches(lid, per_license, now - 3600 * US, f"p-{lid}"):
            p.producer.produce(topics.usage, value, lid.encode())
            p.producer.poll(0)
    p.flush()
    total = len(lids) * per_license * BATCH
    worker = start_worker("bench")
    stats, cpu_us = drain(worker, total, 300)
    rate = stats["events"] / max(stats["busy_seconds"], 1e-9)
    print(f"\nworker backlog: {stats['events']} events in {stats['messages']} messages, {stats.get('steps', '?')} steps, "
          f"{stats['busy_seconds']:.2f}s busy = {rate:,.0f} events/s per worker; worker process CPU "
          f"{cpu_us:.2f} us per event (load average {os.getloadavg()[0]:.1f})")

    get_json(f"{worker.url}/v1/stats?reset_latency=1")
    seq = {lid: per_license * BATCH for lid in lids}
    steady_until = time.monotonic() + 15
    sent = 0
    while time.monotonic() < steady_until:  # ~20 messages/s of 500 events (10,000 events/s)
        for lid in lids[:20]:
            t = time.time_ns() // 1000
            p.send(lid, columns(BATCH, start_seq=seq[lid], t0=t - BATCH + 1, step_us=1, producer=f"p-{lid}",
                                quantity=1))
            seq[lid] += BATCH
            sent += 1
        p.producer.poll(0)
        time.sleep(1.0)
    p.flush()
    wait_for(lambda: get_json(f"{worker.url}/v1/stats")["latency_ms"]["samples"] >= sent, 60, what="steady applied")
    lat = get_json(f"{worker.url}/v1/stats")["latency_ms"]
    print(f"produce -> quota state: {lat['samples']} messages, p50 {lat['p50']:.1f} ms, p99 {lat['p99']:.1f} ms, "
          f"max {lat['max']:.1f} ms")

    delays = []
    for i in range(5):  # hard limit: time from producing the breaching batch to the pre-check refusing
        lid = f"hard-{i}"
        admin.publish_many([terms(lid, quotas={"input_tokens": quota("input_tokens", 1000, "month", hard=True)})])
        wait_for(lambda: _known(worker.url, lid), 30, interval=0.05, what="license known")
        start = time.monotonic()
        p.send(lid, columns(100, t0=time.time_ns() // 1000, producer=f"p-{lid}", quantity=10 * US))
        p.flush()
        url = f"{worker.url}/v1/licenses/{lid}/check?metric=input_tokens"
        wait_for(lambda: get_json(url)["decision"] == "quota_exceeded", 30, interval=0.01, what="exhausted")
        delays.append((time.monotonic() - start) * 1000)
    print(f"hard limit reached -> pre-check answers quota_exceeded: median {percentile(delays, 50):.0f} ms, "
          f"max {max(delays):.0f} ms over {len(delays)} breaches")


def test_worker_small_messages(start_worker: Any, admin: Any, kafka_bootstrap: str, topics: Any) -> None:
    """A backlog of 20-event messages (what a live-rate Meter sends) drained by one worker, beside the
    logic alone on the same messages: the per-message cost that decides the paced end-to-end run."""
    lids = [f"small-{i}" for i in range(100)]
    admin.publish_many([terms(lid, quotas={"input_tokens": quota("input_tokens", 10**11, "month", hard=True)})
                        for lid in lids])
    per_license = int(os.environ.get("BENCH_SMALL_MESSAGES", 10_000)) // len(lids)
    now = time.time_ns() // 1000
    p = RawProducer(kafka_bootstrap, topics)
    for lid in lids:
        for value in encoded_batches(lid, per_license, now - 3600 * US, f"p-{lid}", SMALL):
            p.producer.produce(topics.usage, value, lid.encode())
            p.producer.poll(0)
    p.flush()
    total = len(lids) * per_license * SMALL
    worker = start_worker("small")
    stats, cpu_us = drain(worker, total)
    busy = max(stats["busy_seconds"], 1e-9)
    logic = logic_rate(encoded_batches("bench", per_license * 10, now, "p", SMALL), SMALL)
    assert stats["counted"] == total
    print(f"\nworker backlog of {SMALL}-event messages: {stats['events']} events in {stats['messages']} messages, "
          f"{stats.get('steps', '?')} steps, {busy:.2f}s busy = {stats['events'] / busy:,.0f} events/s "
          f"({stats['messages'] / busy:,.0f} messages/s) per worker; worker process CPU {cpu_us:.2f} us per event "
          f"({cpu_us * SMALL:.0f} us per message); logic alone, same messages: {logic:,.0f} events/s "
          f"(load average {os.getloadavg()[0]:.1f})")


def _known(url: str, lid: str) -> bool:
    try:
        get_json(f"{url}/v1/licenses/{lid}/check?metric=input_tokens")
        return True
    except urllib.error.HTTPError:
        return False

"""Validate latency on one worker at a fixed request rate (open loop: requests leave on schedule, whether
or not earlier ones have been answered, so queueing shows in the figures).

Run with ``TZ=UTC .venv/bin/python -m pytest tests/benchmarks/test_validate_bench.py -m benchmark -s``;
``BENCH_RATE`` (default 1000 requests/s) and ``BENCH_SECONDS`` (10). Prints p50/p90/p99/max, and the same
for ``/v1/licenses/{id}/check`` (the baseline: no key lookup, no decision record). Asserts only that every
answer was right, never timing.
"""

from __future__ import annotations

import asyncio
import os
import time

import aiohttp
import pytest

from meterstream.stream_processors.license.terms import quota
from meterstream.stream_processors.stats import percentile
from tests.helpers import wait_for
from tests.stream_processors.licensing import VALIDATE_BODY, call, keyed

pytestmark = [pytest.mark.benchmark, pytest.mark.integration]
RATE = int(os.environ.get("BENCH_RATE", "1000"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))
LICENSES = 50


async def _open_loop(send: "callable", n: int) -> list[float]:  # type: ignore[valid-type]
    """Start request i at i / RATE seconds; return each one's latency in ms."""
    latencies: list[float] = []
    start = time.perf_counter()

    async def one(i: int) -> None:
        t0 = time.perf_counter()
        await send(i)
        latencies.append((time.perf_counter() - t0) * 1000)
    tasks = []
    for i in range(n):
        delay = start + i / RATE - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one(i)))
    await asyncio.gather(*tasks)
    return latencies


async def _measure(url: str, keys: list[str], ids: list[str]) -> dict[str, list[float]]:
    n = int(RATE * SECONDS)
    conn = aiohttp.TCPConnector(limit=200)
    async with aiohttp.ClientSession(connector=conn) as s:
        async def validate(i: int) -> None:
            async with s.post(f"{url}/v1/validate", json=VALIDATE_BODY,
                              headers={"X-License-Key": keys[i % len(keys)]}) as r:
                assert (await r.json())["code"] == "ok"

        async def check(i: int) -> None:
            async with s.get(f"{url}/v1/licenses/{ids[i % len(ids)]}/check",
                             params={"metric": "inferences", "quantity": "1"}) as r:
                assert (await r.json())["decision"] == "allow"
        await _open_loop(validate, min(n, 500))  # warm-up: connections, caches
        sequential = []
        for i in range(1000):  # one at a time: the service time itself, no queueing
            t0 = time.perf_counter()
            await validate(i)
            sequential.append((time.perf_counter() - t0) * 1000)
        return {"validate": await _open_loop(validate, n), "check (by id)": await _open_loop(check, n),
                "validate, one at a time": sequential}


def test_validate_latency_at_fixed_rate(start_worker, admin, topics) -> None:
    made = [keyed(f"bench-{i}", quotas={"inferences": quota("inferences", 10**9, hard=True)})
            for i in range(LICENSES)]
    admin.publish_many([t for t, _ in made])
    w = start_worker("w1")
    keys, ids = [k for _, k in made], [t.license_id for t, _ in made]
    wait_for(lambda: all(call(w.url, "/v1/validate", k, VALIDATE_BODY)[1].get("code") == "ok" for k in keys),
             60, interval=1, what="every key known")
    figures = asyncio.run(_measure(w.url, keys, ids))
    print(f"\none worker, {RATE} requests/s for {SECONDS:.0f} s, {LICENSES} licenses:")
    for name, lat in figures.items():
        lat.sort()
        print(f"  {name:14s} p50 {percentile(lat, 50):.2f} ms  p90 {percentile(lat, 90):.2f} ms  "
              f"p99 {percentile(lat, 99):.2f} ms  max {lat[-1]:.2f} ms  ({len(lat)} requests)")

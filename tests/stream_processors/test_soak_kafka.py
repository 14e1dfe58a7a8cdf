"""Soak: 10,000 licenses with random traffic; totals, alerts and quota state match an independent reference.

The default run keeps the event count small (30,000 events; it still touches
every license); ``run_soak`` takes larger counts for longer soaks.
"""

from __future__ import annotations

import random
import time
from typing import Any

import pytest

from meterstream.process import get_json
from meterstream.producers import Meter
from meterstream.stream_processors.license.terms import quota
from tests.helpers import wait_for
from tests.stream_processors.conftest import read_alerts
from tests.stream_processors.factory import terms
from tests.stream_processors.reference import Reference, identity, period_key

pytestmark = pytest.mark.integration

HOUR_US = 3600 * 10**6


def run_soak(start_worker: Any, admin: Any, topics: Any, bootstrap: str, licenses: int, events: int,
             seed: int = 10) -> dict[str, float]:
    """Publish ``licenses`` licenses, send ``events`` random events, compare everything; return timings."""
    rng = random.Random(seed)
    ids = [f"soak-{i:05d}" for i in range(licenses)]
    spec: dict[str, dict[str, tuple[int, str, bool, tuple[int, ...]]]] = {}
    all_terms = []
    for lid in ids:
        inp, out = rng.randint(1, 8) * 500, rng.randint(1, 8) * 250
        spec[lid] = {"input_tokens": (inp * 10**6, "month", True, (50, 80, 90, 100)),
                     "output_tokens": (out * 10**6, "day", False, (50, 100))}
        all_terms.append(terms(lid, quotas={"input_tokens": quota("input_tokens", inp, "month", hard=True),
                                            "output_tokens": quota("output_tokens", out, "day", thresholds=[50, 100])}))
    started = time.monotonic()
    admin.publish_many(all_terms)
    worker = start_worker("soak")
    ref = Reference(spec)
    now = time.time_ns() // 1000
    t0 = time.monotonic()
    with Meter(kafka_bootstrap_servers=bootstrap, topic_prefix=topics.topic_prefix, batch_max_events=500,
               linger_ms=50, producer_id="soak") as meter:
        for n in range(events):
            lid = ids[n] if n < licenses else rng.choice(ids)
            metric = rng.choice(("input_tokens", "output_tokens", "images"))
            q = rng.randint(1, 1000) if metric != "images" else rng.randint(1, 4)
            t = now - rng.randint(0, 36 * HOUR_US)  # spans two or three UTC days
            meter.record(lid, metric, q, model="llama-3", model_version="3.1.0", feature="chat", team="search",
                         hardware_id="gpu-1", region="eu-west-1", event_time_us=t)
            ref.add(lid, metric, q * 10**6, t)
        meter.flush()
    sent = time.monotonic() - t0

    def all_counted() -> dict | None:
        totals = get_json(f"{worker.url}/totals/", timeout=30)
        return totals if sum(v["events"] for v in totals.values()) >= events else None
    totals = wait_for(all_counted, 300, interval=2, what="every event counted")
    processed = time.monotonic() - t0
    assert len(totals) == licenses
    assert {lid: v["events"] for lid, v in totals.items()} == dict(ref.events)
    assert {lid: v["quantity"] for lid, v in totals.items()} == {lid: dict(m) for lid, m in ref.totals.items()}

    expected = ref.expected_alerts()
    wait_for(lambda: {identity(a) for _, a in read_alerts(bootstrap, topics, idle=1.0)} >= expected, 120,
             interval=2, what="every expected alert")
    alerts = [a for _, a in read_alerts(bootstrap, topics)]
    assert {identity(a) for a in alerts} == expected
    assert len({a["alert_id"] for a in alerts}) == len(alerts) == len(expected)

    check_now = time.time_ns() // 1000
    for lid in rng.sample(ids, 50):
        view = get_json(f"{worker.url}/v1/licenses/{lid}/quota")
        for metric, (limit, kind, hard, _) in spec[lid].items():
            used = ref.used.get((lid, metric, period_key(kind, check_now)), 0)
            m = view["metrics"][metric]
            assert int(float(m["used"]) * 10**6) == used and m["exhausted"] == (hard and used >= limit), (lid, metric)
    return {"publish_and_start_s": t0 - started, "send_s": sent, "processed_s": processed, "alerts": len(alerts)}


def test_soak_ten_thousand_licenses(start_worker, admin, topics, kafka_bootstrap) -> None:
    figures = run_soak(start_worker, admin, topics, kafka_bootstrap, licenses=10_000, events=30_000)
    print(f"\nsoak: 10,000 licenses, 30,000 events: {figures}")

"""A worker SIGKILLed mid-stream: its successor neither double counts nor invents or loses alerts."""

from __future__ import annotations

import random
import threading
import time
from collections import defaultdict

import pytest

from meterstream.process import get_json
from meterstream.producers import Meter
from meterstream.stream_processors.license.terms import quota
from tests.helpers import wait_for
from tests.stream_processors.conftest import read_alerts
from tests.stream_processors.factory import terms
from tests.stream_processors.reference import Reference, identity

pytestmark = pytest.mark.integration

LICENSES, EVENTS, RATE = 200, 20_000, 4_000  # events/s: the stream lasts ~5 s


def test_sigkill_mid_stream_no_double_count_no_duplicate_alert(start_worker, admin, kafka_env, topics,
                                                                kafka_bootstrap) -> None:
    rng = random.Random(4)
    ids = [f"rs-{i:03d}" for i in range(LICENSES)]
    limits = {lid: rng.randint(20, 100) * 1000 for lid in ids}
    admin.publish_many([terms(lid, quotas={"input_tokens": quota("input_tokens", limits[lid], "month", hard=True)})
                        for lid in ids])
    ref = Reference({lid: {"input_tokens": (limits[lid] * 10**6, "month", True, (50, 80, 90, 100))} for lid in ids})
    fast = {"METERSTREAM_PROCESSOR_SESSION_TIMEOUT_S": "6"}  # the killed worker's partitions move sooner
    first = start_worker("w1", fast)

    def traffic() -> None:
        with Meter(kafka_bootstrap_servers=kafka_bootstrap, topic_prefix=topics.topic_prefix,
                   batch_max_events=200, linger_ms=20, producer_id="restart-test") as meter:
            start = time.monotonic()
            for n in range(EVENTS):
                lid = rng.choice(ids)
                q = rng.randint(1, 1000)
                t = time.time_ns() // 1000
                meter.record(lid, "input_tokens", q, model="llama-3", model_version="3.1.0", feature="chat",
                             team="search", hardware_id="gpu-1", region="eu-west-1", event_time_us=t)
                ref.add(lid, "input_tokens", q * 10**6, t)
                ahead = n / RATE - (time.monotonic() - start)
                if ahead > 0:
                    time.sleep(ahead)
    sender = threading.Thread(target=traffic)
    sender.start()
    wait_for(lambda: get_json(f"{first.url}/v1/stats")["events"] > EVENTS // 5, 60, what="first worker busy")
    first.proc.kill()  # SIGKILL: no commit, no flush
    first.proc.wait()
    second = start_worker("w2", fast)
    sender.join(120)

    def all_counted() -> dict | None:
        totals = get_json(f"{second.url}/totals/")
        return totals if sum(v["events"] for v in totals.values()) >= EVENTS else None
    totals = wait_for(all_counted, 120, interval=1, what="every event counted")
    assert {lid: v["events"] for lid, v in totals.items()} == dict(ref.events)
    assert {lid: v["quantity"]["input_tokens"] for lid, v in totals.items()} == \
        {lid: m["input_tokens"] for lid, m in ref.totals.items()}

    expected = ref.expected_alerts()
    wait_for(lambda: {identity(a) for _, a in read_alerts(kafka_bootstrap, topics, idle=1.0)} >= expected, 60,
             interval=1, what="every expected alert")
    alerts = [a for _, a in read_alerts(kafka_bootstrap, topics)]
    by_id: dict[str, list[dict]] = defaultdict(list)
    for a in alerts:
        by_id[a["alert_id"]].append(a)
    assert {identity(a) for a in alerts} == expected  # none missing, none invented
    assert len(by_id) == len(expected)  # one id per (license, metric, period, threshold)
    copies = sum(len(v) - 1 for v in by_id.values())
    # A copy is the same alert: re-sent from the outbox, or fired again by a message whose state
    # write died with the worker (then only its creation time differs).
    same = [{**c, "created_at": None} == {**v[0], "created_at": None} for v in by_id.values() for c in v]
    assert all(same), "two different alerts share an id"
    print(f"\n{len(expected)} distinct alerts; {copies} re-sent copies with the same id after the SIGKILL")

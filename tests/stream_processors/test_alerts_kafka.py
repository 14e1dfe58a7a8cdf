"""Every alert kind, triggered by crafted traffic through real Kafka and a worker subprocess.

Normal traffic (the ``clean`` license) must raise nothing; each crafted license
must raise exactly its kind. The pre-check of the license whose hard limit was
reached answers quota_exceeded.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

import pytest

from meterstream.process import get_json
from meterstream.stream_processors import alerts as k
from meterstream.stream_processors.license.terms import quota
from tests.helpers import wait_for
from tests.stream_processors.conftest import read_alerts
from tests.stream_processors.factory import US, columns, terms

pytestmark = pytest.mark.integration

DAY = 86_400 * US

EXPECTED = {
    "clean": set(),
    "quota": {k.THRESHOLD, k.QUOTA_EXHAUSTED},
    "model": {k.MODEL_NOT_ALLOWED},
    "version": {k.MODEL_NOT_ALLOWED},
    "hw": {k.HARDWARE_NOT_ALLOWED},
    "hwmax": {k.HARDWARE_LIMIT},
    "region": {k.REGION_NOT_ALLOWED},
    "feature": {k.FEATURE_NOT_ENABLED},
    "expired": {k.EXPIRED},
    "notyet": {k.NOT_YET_VALID},
    "revoked": {k.LICENSE_REVOKED},
    "suspended": {k.LICENSE_SUSPENDED},
    "ghost": {k.UNKNOWN_LICENSE},
    "spike": {k.SPEND_SPIKE},
    "gap": {k.SEQUENCE_GAP},
    "repeat": {k.SEQUENCE_REPEAT},
}


def publish_licenses(admin: Any, now: int) -> None:
    big = {"input_tokens": quota("input_tokens", 10**9, "month", hard=True)}
    for lid in EXPECTED:
        if lid == "ghost":
            continue
        changes: dict[str, Any] = {"quotas": big}
        if lid == "quota":
            changes["quotas"] = {"input_tokens": quota("input_tokens", 1000, "month", hard=True)}
        elif lid == "expired":
            changes["expires_us"] = now - DAY
        elif lid == "notyet":
            changes["not_before_us"] = now + DAY
        admin.create(terms(lid, **changes))
    admin.revoke("revoked")
    admin.suspend("suspended")


def send_traffic(p: Any, now: int) -> dict[str, int]:
    """Crafted traffic per license; returns the events sent per license."""
    sent: dict[str, int] = defaultdict(int)

    def send(lid: str, cols: dict[str, list[Any]]) -> None:
        p.send(lid, cols)
        sent[lid] += len(cols["event_time"])

    for lid in ("clean", "model", "version", "hw", "hwmax", "region", "feature", "expired", "notyet", "revoked",
                "suspended", "ghost"):
        overrides: dict[str, Any] = {
            "model": {"model": "gpt-x"}, "version": {"model_version": "4.0.0"}, "hw": {"hardware_id": "gpu-9"},
            "hwmax": {"hardware_id": ["gpu-1", "gpu-2", "gpu-3", "gpu-1"]}, "region": {"region": "us-east-1"},
            "feature": {"feature": "translate"},
        }.get(lid, {})
        send(lid, columns(4, t0=now, producer=f"p-{lid}", **overrides))
    for i in range(12):  # 12 x 100 tokens against a hard limit of 1000
        send("quota", columns(10, start_seq=i * 10, t0=now + i * 10 * US, producer="p-quota"))
    start = now - now % (60 * US) - 10 * 60 * US  # minute-aligned: one spike bucket
    for b in range(6):  # steady 5 x 10 per minute, then 40 x 10 in one minute
        send("spike", columns(5, start_seq=b * 5, t0=start + b * 60 * US, producer="p-spike"))
    send("spike", columns(40, start_seq=30, t0=start + 6 * 60 * US, producer="p-spike"))
    send("gap", columns(10, t0=now, producer="p-gap"))
    send("gap", columns(10, start_seq=20, t0=now + 20 * US, producer="p-gap"))
    send("gap", columns(5, start_seq=30, t0=now + 40 * US, producer="p-gap"))
    first = columns(10, t0=now, producer="p-repeat")
    send("repeat", first)
    send("repeat", first)
    p.flush()
    return sent


def test_each_alert_kind_from_crafted_traffic_and_none_from_normal(start_worker, admin, raw_producer,
                                                                   kafka_bootstrap, topics) -> None:
    now = time.time_ns() // 1000
    publish_licenses(admin, now)
    worker = start_worker(extra={"METERSTREAM_PROCESSOR_GAP_GRACE_S": "5",
                                 "METERSTREAM_PROCESSOR_SPIKE_MIN_HISTORY": "4",
                                 "METERSTREAM_PROCESSOR_UNKNOWN_LICENSE_GRACE_S": "5"})
    sent = send_traffic(raw_producer, now)
    total = sum(sent.values())
    wait_for(lambda: get_json(f"{worker.url}/v1/stats")["events"] >= total, 90, what="events applied")

    def by_license() -> dict[str, set[str]] | None:
        """Kinds per license once every expected kind arrived (extra kinds are caught below)."""
        got: dict[str, set[str]] = defaultdict(set)
        for key, a in read_alerts(kafka_bootstrap, topics, idle=1.0):
            assert key == a["license_id"].encode()
            got[a["license_id"]].add(a["kind"])
        missing = {lid: kinds - got.get(lid, set()) for lid, kinds in EXPECTED.items() if kinds - got.get(lid, set())}
        return None if missing else got

    wait_for(by_license, 60, interval=1, what="every alert kind")
    alerts = read_alerts(kafka_bootstrap, topics, idle=2.0)
    got: dict[str, list[dict]] = defaultdict(list)
    for _, a in alerts:
        got[a["license_id"]].append(a)
    assert {lid: {a["kind"] for a in got.get(lid, [])} for lid in EXPECTED} == EXPECTED
    assert len({a["alert_id"] for _, a in alerts}) == len(alerts), "an alert was sent twice"
    assert sorted(a["threshold"] for a in got["quota"] if a["kind"] == k.THRESHOLD) == [50, 80, 90, 100]
    spike = [a for a in got["spike"]][0]["evidence"]
    assert spike["total"] == "400" and spike["baseline_mean"] == "50"
    assert got["gap"][0]["evidence"]["missing_from"] == "10" and got["gap"][0]["evidence"]["missing_to"] == "19"
    assert got["model"][0]["evidence"]["model"] == "gpt-x" and got["model"][0]["event_id"] == "e-p-model-0"

    check = get_json(f"{worker.url}/v1/licenses/quota/check?metric=input_tokens&quantity=1")
    assert check["decision"] == "quota_exceeded" and check["remaining"] == "0"
    assert get_json(f"{worker.url}/v1/licenses/clean/check?metric=input_tokens&quantity=5")["decision"] == "allow"
    assert get_json(f"{worker.url}/v1/licenses/revoked/check?metric=input_tokens")["reason"] == "license revoked"
    view = get_json(f"{worker.url}/v1/licenses/quota/quota")
    assert view["metrics"]["input_tokens"]["exhausted"] is True
    repeat = get_json(f"{worker.url}/totals/repeat/")
    assert repeat["events"] == 10  # the repeated batch was not counted twice

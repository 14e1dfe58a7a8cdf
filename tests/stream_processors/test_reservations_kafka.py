"""32 callers race for the last units of a hard limit: reservations hold it exactly; checks alone overshoot."""

from __future__ import annotations

import threading
from decimal import Decimal
from pathlib import Path
from typing import Callable

import pytest

from meterstream.process import get_json
from meterstream.producers import Meter, ValidationResult
from meterstream.stream_processors.license.terms import quota
from tests.helpers import wait_for
from tests.stream_processors.licensing import VALIDATE_BODY, call, keyed

pytestmark = pytest.mark.integration
CALLERS, LIMIT, USED, EACH = 32, 100, 80, 5


def _race(ask: Callable[[], ValidationResult]) -> list[ValidationResult]:
    """Every caller asks at the same moment (a barrier), each on its own thread."""
    barrier = threading.Barrier(CALLERS)
    results: list[ValidationResult] = []

    def caller() -> None:
        barrier.wait()
        results.append(ask())
    threads = [threading.Thread(target=caller) for _ in range(CALLERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def _used(url: str, license_id: str) -> Decimal:
    return Decimal(get_json(f"{url}/v1/licenses/{license_id}/quota")["metrics"]["inferences"]["used"])


def test_reservations_hold_a_hard_limit_under_concurrency(start_worker, admin, topics, kafka_bootstrap,
                                                          tmp_path: Path) -> None:
    hard = {"inferences": quota("inferences", LIMIT, hard=True)}
    (held, held_key), (checked, checked_key) = keyed("race-held", quotas=hard), keyed("race-checked", quotas=hard)
    admin.publish_many([held, checked])
    w = start_worker("w1", {"METERSTREAM_PROCESSOR_KEY_FAILURES_BURST": "100000"})
    wait_for(lambda: call(w.url, "/v1/validate", checked_key, VALIDATE_BODY)[1].get("code") == "ok", 60,
             what="keys known")
    with Meter(kafka_bootstrap_servers=kafka_bootstrap, topic_prefix=topics.topic_prefix, spool_dir=tmp_path / "s",
               quota_url=w.url, check_timeout_ms=10_000, model="llama-3", model_version="3.1.0", feature="chat",
               hardware_id="gpu-1", region="eu-west-1", linger_ms=5) as meter:
        for lic in (held, checked):
            meter.record(lic.license_id, "inferences", USED)
        meter.flush()
        for lic in (held, checked):
            wait_for(lambda: _used(w.url, lic.license_id) == USED, 60, what=f"{lic.license_id} at {USED}")

        granted = [r for r in _race(lambda: meter.reserve(held_key, "inferences", EACH, ttl_s=60)) if r.valid]
        for i, r in enumerate(granted):
            assert r.reservation_id and r.license_id == held.license_id
            actual = EACH if i else EACH - 2  # the first call used less than it reserved
            meter.record(held.license_id, "inferences", actual, decision_id=r.decision_id,
                         reservation_id=r.reservation_id)
        allowed = [r for r in _race(lambda: meter.validate(checked_key, quantity=EACH)) if r.valid]
        for _ in allowed:
            meter.record(checked.license_id, "inferences", EACH)
        meter.flush()

    expected_held, expected_checked = USED + EACH * len(granted) - 2, USED + EACH * len(allowed)
    wait_for(lambda: _used(w.url, held.license_id) == expected_held, 60, what="reserved use counted")
    wait_for(lambda: _used(w.url, checked.license_id) == expected_checked, 60, what="checked use counted")
    overshoot_held = max(0, expected_held - LIMIT)
    overshoot_checked = max(0, expected_checked - LIMIT)
    print(f"\n{CALLERS} concurrent callers, {LIMIT - USED} units left, {EACH} each: with reservations "
          f"{len(granted)} granted, overshoot {overshoot_held}; validate alone {len(allowed)} allowed, "
          f"overshoot {overshoot_checked}")
    assert len(granted) == (LIMIT - USED) // EACH and overshoot_held == 0
    assert overshoot_checked > 0  # what reservations prevent
    # recording against the reservations closed them: the 2 units the first call did not use are free again
    again = call(w.url, "/v1/reservations", held_key, {**VALIDATE_BODY, "quantity": "2"})[1]
    assert again["valid"] and again["remaining"] == "2", again
    refused = call(w.url, "/v1/reservations", held_key, {**VALIDATE_BODY, "quantity": "1"})[1]
    assert refused["code"] == "quota_exceeded" and refused["reservation_id"] is None

"""Validate by key against a running worker: every code over HTTP and through Meter.validate, key
rotation, version rules against the release catalog, and wrong keys answered like unknown ones."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from meterstream.clock import now_us
from meterstream.config import KafkaSettings
from meterstream.producers import Meter
from meterstream.producers.errors import InvalidEventError
from meterstream.stream_processors.license.catalog_admin import CatalogAdmin
from meterstream.stream_processors.license.terms import grants, quota
from tests.helpers import wait_for
from tests.stream_processors.licensing import VALIDATE_BODY, call, keyed

pytestmark = pytest.mark.integration
US = 1_000_000
DAY = 86_400 * US
FAST_FAILURES = {"METERSTREAM_PROCESSOR_KEY_FAILURES_BURST": "100000"}


def _licenses() -> dict[str, tuple[dict, tuple]]:
    """code -> (request overrides, keyed terms) that should produce it."""
    now = now_us()
    return {
        "ok": ({}, keyed("v-ok", quotas={"inferences": quota("inferences", 100, hard=True)})),
        "quota_exceeded": ({"quantity": "11"}, keyed("v-hard", quotas={"inferences": quota("inferences", 10, hard=True)})),
        "soft_exceeded": ({"quantity": "11"}, keyed("v-soft", quotas={"inferences": quota("inferences", 10)})),
        "expired": ({}, keyed("v-exp", not_before_us=now - 30 * DAY, expires_us=now - DAY)),
        "not_yet_valid": ({}, keyed("v-nyv", not_before_us=now + DAY)),
        "suspended": ({}, keyed("v-susp", status="suspended")),
        "revoked": ({}, keyed("v-rev", status="revoked")),
        "hardware_not_allowed": ({"hardware_id": "gpu-9"}, keyed("v-hw", hardware_ids=frozenset({"gpu-1"}))),
        "hardware_limit": ({"hardware_id": "gpu-2"}, keyed("v-hwlim", max_hardware=1)),
        "region_not_allowed": ({"region": "us-east-1"}, keyed("v-reg")),
        "feature_not_enabled": ({"feature": "draw"}, keyed("v-feat")),
        "model_not_allowed": ({"model": "gpt-x"}, keyed("v-model")),
        "version_not_allowed": ({"model_version": "4.0.0"}, keyed("v-ver")),
    }


def test_every_code_over_http_and_through_meter(start_worker, admin, topics, kafka_bootstrap, tmp_path: Path) -> None:
    cases = _licenses()
    export, export_key = keyed("v-export", regions=frozenset(), export_denied=frozenset({"cn"}))
    admin.publish_many([t for _, (t, _k) in cases.values()] + [export])
    w = start_worker("w1", FAST_FAILURES)
    ok_key = cases["ok"][1][1]
    wait_for(lambda: call(w.url, "/v1/validate", ok_key, VALIDATE_BODY)[1].get("code") == "ok", 60,
             what="the worker knows the keys")
    # hardware_limit: a first machine is validated (and counts), a second is over max_hardware=1
    assert call(w.url, "/v1/validate", cases["hardware_limit"][1][1], VALIDATE_BODY)[1]["code"] == "ok"
    with Meter(kafka_bootstrap_servers=kafka_bootstrap, topic_prefix=topics.topic_prefix, spool_dir=tmp_path / "s",
               quota_url=w.url, model="llama-3", model_version="3.1.0", hardware_id="gpu-1",
               region="eu-west-1", feature="chat") as meter:
        for code, (overrides, (t, key)) in cases.items():
            status, body = call(w.url, "/v1/validate", key, {**VALIDATE_BODY, **overrides})
            assert (status, body["code"]) == (200, code), (code, body)
            assert body["valid"] is (code in ("ok", "soft_exceeded"))
            assert body["license_id"] == t.license_id and body["decision_id"].startswith("dec_")
            result = meter.validate(key, **{k: v for k, v in overrides.items() if k != "quantity"},
                                    quantity=overrides.get("quantity", 1))
            assert result.code == code and result.license_id == t.license_id, (code, result)
        assert meter.validate(export_key, region="cn-north-1").code == "region_not_allowed"
        assert meter.validate(export_key, region="eu-west-1").valid
        ok = meter.validate(ok_key)
        assert ok.tier == "pro" and ok.remaining is not None and ok.decision_id
        assert meter.validate("no-such-key").code == "unknown_key"
        with pytest.raises(InvalidEventError, match="metric"):
            meter.validate(ok_key, metric="inferencez")
        with pytest.raises(InvalidEventError, match="quantity"):
            meter.validate(ok_key, quantity=-1)
    status, body = call(w.url, "/v1/validate", ok_key, {**VALIDATE_BODY, "metric": "nope"})
    assert (status, body["field"]) == (400, "metric")
    assert call(w.url, "/v1/validate", None, VALIDATE_BODY)[0] == 401


def test_wrong_key_answers_like_unknown_key_and_rotation(start_worker, admin, topics) -> None:
    t, key = keyed("v-rot")
    admin.publish(t)
    w = start_worker("w1", FAST_FAILURES)
    wait_for(lambda: call(w.url, "/v1/validate", key, VALIDATE_BODY)[1].get("code") == "ok", 60, what="key known")

    def timed(k: str) -> tuple[int, dict, float]:
        t0 = time.perf_counter()
        status, body = call(w.url, "/v1/validate", k, VALIDATE_BODY)
        return status, body, time.perf_counter() - t0
    wrong = [timed(key[:-1] + "X") for _ in range(30)]  # a near miss of a real license's key
    unknown = [timed(f"never-issued-{i}") for i in range(30)]
    for status, body, _ in wrong + unknown:
        assert status == 200
        assert {k: v for k, v in body.items() if k != "decision_id"} == \
            {k: v for k, v in unknown[0][1].items() if k != "decision_id"}
    median = lambda xs: sorted(x[2] for x in xs)[len(xs) // 2]  # noqa: E731
    assert abs(median(wrong) - median(unknown)) < 0.005, (median(wrong), median(unknown))
    # rotation: both keys work, then only the new one
    new_terms, new_key = admin.rotate_key("v-rot")
    wait_for(lambda: call(w.url, "/v1/validate", new_key, VALIDATE_BODY)[1].get("code") == "ok", 30,
             what="the new key")
    assert call(w.url, "/v1/validate", key, VALIDATE_BODY)[1]["code"] == "ok"
    admin.retire_key("v-rot")
    wait_for(lambda: call(w.url, "/v1/validate", key, VALIDATE_BODY)[1].get("code") == "unknown_key", 30,
             what="the old key retired")
    assert call(w.url, "/v1/validate", new_key, VALIDATE_BODY)[1]["code"] == "ok"


def test_version_rules_follow_the_release_catalog(start_worker, admin, topics, kafka_bootstrap) -> None:
    now = now_us()
    catalog = CatalogAdmin(KafkaSettings(kafka_bootstrap_servers=kafka_bootstrap), topics)
    for version, age_days in (("1.0", 400), ("1.1", 200), ("2.0", 10)):
        catalog.release("m", version, now - age_days * DAY)
    rolling, rolling_key = keyed("v-latest", models=grants("m=latest"))
    maint, maint_key = keyed("v-maint", models=grants("m=maintenance:12"), purchased_at_us=now - 500 * DAY)
    admin.publish_many([rolling, maint])
    w = start_worker("w1", FAST_FAILURES)

    def code(key: str, version: str) -> str:
        return call(w.url, "/v1/validate", key, {**VALIDATE_BODY, "model": "m", "model_version": version})[1]["code"]
    wait_for(lambda: code(rolling_key, "2.0") == "ok", 60, what="catalog and keys known")
    assert code(rolling_key, "1.1") == "version_not_allowed"
    assert [code(maint_key, v) for v in ("1.0", "1.1", "2.0")] == ["ok", "ok", "version_not_allowed"]
    catalog.withdraw("m", "2.0")
    wait_for(lambda: code(rolling_key, "1.1") == "ok", 30, what="withdrawal: 1.1 is the newest again")
    assert code(rolling_key, "2.0") == "version_not_allowed"

"""The pre-check decision and the quota view (no broker)."""

from __future__ import annotations

from meterstream.stream_processors.enforcement import decide, quota_state
from meterstream.stream_processors.metering import MeteringRules, apply_message
from meterstream.stream_processors.state import LicenseState
from meterstream.stream_processors.views import parse_quantity
from tests.stream_processors.factory import T0, US, columns, terms

import pytest


def used(n: int, **kw: object) -> LicenseState:
    state, _ = apply_message(None, "lic-1", terms(), 0, columns(n, **kw), MeteringRules())
    return state


def test_allow_with_remaining() -> None:
    d = decide(terms(), used(30), "input_tokens", 100 * US, T0 + 60 * US)
    assert d == {"license_id": "lic-1", "decision": "allow", "reason": None, "metric": "input_tokens",
                 "remaining": "700", "period": "2026-11"}


def test_hard_limit_reached_is_quota_exceeded() -> None:
    d = decide(terms(), used(100), "input_tokens", 0, T0 + 200 * US)
    assert d["decision"] == "quota_exceeded" and d["remaining"] == "0" and "reached" in d["reason"]
    d = decide(terms(), used(95), "input_tokens", 60 * US, T0 + 200 * US)
    assert d["decision"] == "quota_exceeded" and "would be passed" in d["reason"]


def test_soft_limit_and_unlimited_metric() -> None:
    state = used(60, metric="output_tokens")
    d = decide(terms(), state, "output_tokens", 0, T0 + 100 * US)
    assert d["decision"] == "soft_exceeded" and d["period"] == "2026-11-22"
    d = decide(terms(), state, "images", 5 * US, T0)
    assert d["decision"] == "allow" and d["remaining"] is None and d["period"] is None


def test_new_period_resets_the_decision() -> None:
    d = decide(terms(), used(100), "input_tokens", 0, T0 + 20 * 86_400 * US)
    assert d["decision"] == "allow" and d["remaining"] == "1000" and d["period"] == "2026-12"


@pytest.mark.parametrize("kw, reason", [
    ({"model": "gpt-x"}, "model gpt-x not allowed"),
    ({"model": "llama-3", "model_version": "4.1"}, "version 4.1 of llama-3 not allowed"),
    ({"feature": "translate"}, "feature translate not enabled"),
])
def test_license_invalid_for_use_outside_the_terms(kw: dict, reason: str) -> None:
    d = decide(terms(), None, "input_tokens", 0, T0, **kw)
    assert d["decision"] == "license_invalid" and reason in d["reason"]


def test_license_invalid_for_status_and_validity() -> None:
    assert decide(terms(status="revoked"), None, "pages", 0, T0)["reason"] == "license revoked"
    assert decide(terms(expires_us=T0), None, "pages", 0, T0)["reason"] == "license expired"
    assert decide(terms(not_before_us=T0 + 1), None, "pages", 0, T0)["reason"] == "license not yet valid"


def test_quota_view_lists_every_metric() -> None:
    view = quota_state(terms(), used(100), "lic-1", T0 + 200 * US)
    m = view["metrics"]["input_tokens"]
    assert (m["used"], m["remaining"], m["exhausted"], m["thresholds_fired"]) == ("1000", "0", True, [50, 80, 90, 100])
    assert view["metrics"]["output_tokens"]["used"] == "0"
    assert view["totals"]["events"] == 100


def test_parse_quantity() -> None:
    assert parse_quantity("1.5") == 1_500_000 and parse_quantity(None) == 0
    for bad in ("-1", "abc", "0.0000001", "inf"):
        with pytest.raises(ValueError, match="quantity"):
            parse_quantity(bad)

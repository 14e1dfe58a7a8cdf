"""License terms: validation, version rules, Avro round trip, key hashing."""

from __future__ import annotations

import pytest

from meterstream.schemas import RecordCodec
from meterstream.stream_processors.errors import InvalidTermsError
from meterstream.stream_processors.license.cli import parse_quota
from meterstream.stream_processors.license.terms import LicenseTerms, ModelGrant, hash_key, quota
from meterstream.stream_processors.quota import Period
from tests.stream_processors.factory import T0, terms


def test_version_rules() -> None:
    assert ModelGrant("m", "latest").allows("9.9")
    assert ModelGrant("m", "pin:3.0.0").allows("3.0.0") and not ModelGrant("m", "pin:3.0.0").allows("3.0.1")
    assert ModelGrant("m", "major:3").allows("3.7.1") and ModelGrant("m", "major:3").allows("v3")
    assert not ModelGrant("m", "major:3").allows("4.0.0")


def test_model_reason_names_the_offender() -> None:
    t = terms()
    assert t.model_reason("llama-3", "3.2.0") is None
    assert "not allowed" in (t.model_reason("gpt-x", "1") or "")
    assert "version 4.0.0 of llama-3" in (t.model_reason("llama-3", "4.0.0") or "")
    assert terms(models={}).model_reason("anything", "1") is None


@pytest.mark.parametrize("changes, field", [
    ({"status": "paused"}, "status"),
    ({"tier": ""}, "tier"),
    ({"max_hardware": 0}, "max_hardware"),
    ({"key_hash": "abc"}, "key_hash"),
    ({"not_before_us": T0, "expires_us": T0}, "expires_at"),
])
def test_invalid_terms_name_the_field(changes: dict, field: str) -> None:
    with pytest.raises(InvalidTermsError) as err:
        terms(**changes)
    assert err.value.field == field


def test_quota_validation() -> None:
    with pytest.raises(InvalidTermsError, match="quotas.period"):
        quota("input_tokens", 10, "week")
    with pytest.raises(InvalidTermsError, match="quotas.limit"):
        quota("input_tokens", "0.0000001")
    with pytest.raises(InvalidTermsError, match="quotas.metric"):
        LicenseTerms("x", quotas={"cats": quota("cats", 1)})
    assert quota("gpu_seconds", "1.5").limit == 1_500_000
    assert Period.parse("rolling:3600").seconds == 3600


def test_avro_round_trip_keeps_every_term() -> None:
    codec = RecordCodec("license")
    original = terms(key_hash=hash_key("secret"), not_before_us=T0, expires_us=T0 + 10**9, updated_at_us=T0)
    back = LicenseTerms.from_record(codec.decode(codec.encode(original.to_record())))
    assert back == original
    assert "secret" not in codec.encode(original.to_record()).decode("latin-1")


def test_cli_quota_spec() -> None:
    q = parse_quota("input_tokens:1000.5:rolling:3600:hard:25,75")
    assert (q.metric, q.limit, str(q.period), q.hard, q.thresholds) == ("input_tokens", 1_000_500_000,
                                                                        "rolling:3600", True, (25, 75))
    q = parse_quota("pages:10")
    assert str(q.period) == "month" and not q.hard and q.thresholds == (50, 80, 90, 100)

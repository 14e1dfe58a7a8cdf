"""The validate decision without a broker: codes in order, reservations in the headroom, version rules,
tiers, the key index, the wrong-key bucket and the state layout that holds reservations."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from meterstream.stream_processors import reservations
from meterstream.stream_processors.errors import InvalidTermsError
from meterstream.stream_processors.key_index import KeyIndex, key_hash, verify_key
from meterstream.stream_processors.license.releases import Release, ReleaseCatalog, add_months, check_rule
from meterstream.stream_processors.license.terms import LicenseTerms, grants, hash_key, quota
from meterstream.stream_processors.license.tiers import apply_tier, load_tiers
from meterstream.stream_processors.state import LicenseState
from meterstream.stream_processors.state_codec import decode_state, encode_state
from meterstream.stream_processors.throttle import KeyFailures
from meterstream.stream_processors.validation import Ask, BadRequest, judge
from tests.stream_processors.factory import T0, US, terms

DAY = 86_400 * US
ASK = Ask("input_tokens", 10 * US, "chat", "llama-3", "3.1.0", "gpu-1", "eu-west-1")


def code(t: LicenseTerms, ask: Ask = ASK, state: LicenseState | None = None,
         catalog: ReleaseCatalog | None = None) -> str:
    return judge(t, state or LicenseState(), ask, catalog, T0).code


def test_codes_in_order() -> None:
    t = terms()
    assert code(t) == "ok"
    assert code(t.with_changes(status="revoked", expires_us=T0 - 1)) == "revoked"
    assert code(t.with_changes(expires_us=T0)) == "expired"
    assert code(t.with_changes(not_before_us=T0 + 1)) == "not_yet_valid"
    assert code(t, Ask(**{**ASK.__dict__, "model": "gpt"})) == "model_not_allowed"
    assert code(t, Ask(**{**ASK.__dict__, "model_version": "4.0"})) == "version_not_allowed"
    assert code(t, Ask(**{**ASK.__dict__, "feature": "draw"})) == "feature_not_enabled"
    assert code(t, Ask(**{**ASK.__dict__, "hardware_id": "gpu-9"})) == "hardware_not_allowed"
    assert code(t, Ask(**{**ASK.__dict__, "region": "us-east-1"})) == "region_not_allowed"
    denied = t.with_changes(regions=frozenset({"cn-north-1"}), export_denied=frozenset({"cn"}))
    assert code(denied, Ask(**{**ASK.__dict__, "region": "cn-north-1"})) == "region_not_allowed"  # deny wins
    assert code(t, Ask(**{**ASK.__dict__, "quantity": 1001 * US})) == "quota_exceeded"
    assert code(t, Ask(**{**ASK.__dict__, "metric": "output_tokens", "quantity": 501 * US})) == "soft_exceeded"


def test_hardware_limit_counts_validated_machines() -> None:
    st = LicenseState(hw={"2026-11": ["gpu-1", "gpu-2"]})
    t = terms()  # max_hardware 2
    assert code(t, state=st) == "ok"
    assert code(t, Ask(**{**ASK.__dict__, "hardware_id": "gpu-3"}), st) == "hardware_limit"
    verdict = judge(t, LicenseState(), ASK, None, T0)
    assert verdict.valid and verdict.new_hardware == "2026-11"


def test_reservations_take_headroom_until_released_or_expired() -> None:
    t = terms(quotas={"input_tokens": quota("input_tokens", 100, hard=True)})
    st = LicenseState()
    rid = reservations.hold(st, "input_tokens", 95 * US, T0 + 60 * US, "dec_1")
    assert reservations.held(st, "input_tokens", T0) == 95 * US
    assert code(t, state=st) == "quota_exceeded"  # 95 held + 10 asked > 100
    assert code(t, Ask(**{**ASK.__dict__, "quantity": 5 * US}), st) == "ok"
    assert judge(t, st, ASK, None, T0 + 61 * US).code == "ok"  # expired: no longer held
    assert reservations.capture(st, [rid, None, "rsv_other"]) == 1 and not st.reservations
    reservations.hold(st, "input_tokens", 1, T0, "dec_2")
    assert reservations.expire(st, T0) == 1


def test_state_keeps_reservations_and_reads_v1() -> None:
    st = LicenseState(events=3)
    rid = reservations.hold(st, "inferences", 5 * US, T0, "dec_9")
    again = decode_state(encode_state(st), "lic")
    assert again.reservations[rid].quantity == 5 * US and again.events == 3
    v1 = b"\x01" + json.dumps(json.loads(encode_state(LicenseState(events=7))[1:])[:12]).encode()
    assert decode_state(v1, "lic").events == 7 and decode_state(v1, "lic").reservations == {}


def test_version_rules_against_the_catalog() -> None:
    cat = ReleaseCatalog([Release("m", "1.0", T0 - 400 * DAY), Release("m", "1.1", T0 - 100 * DAY),
                          Release("m", "2.0", T0 - DAY), Release("m", "2.1", T0 + DAY)])
    t = terms(models=grants("m=latest"), purchased_at_us=T0 - 400 * DAY)
    verdict = lambda lic, v: lic.model_verdict("m", v, cat, T0)  # noqa: E731
    assert verdict(t, "2.0") is None and verdict(t, "1.1")[0] == "version_not_allowed"
    assert verdict(t, "2.1") is not None  # not published yet at T0
    two = t.with_changes(models=grants("m=latest:2"))
    assert verdict(two, "1.1") is None and verdict(two, "1.0") is not None
    maint = t.with_changes(models=grants("m=maintenance:12"))
    assert [verdict(maint, v) is None for v in ("1.0", "1.1", "2.0")] == [True, True, False]
    assert terms(models=grants("m=latest")).model_verdict("m", "9", ReleaseCatalog(), T0) is None  # no catalog yet
    cat.put(Release("m", "2.0", T0 - DAY, withdrawn=True))
    assert verdict(t, "1.1") is None and verdict(t, "2.0") is not None
    assert add_months(T0, 12) - T0 == 365 * DAY
    with pytest.raises(InvalidTermsError):
        check_rule("latest:0")


def test_tiers_are_templates_a_license_overrides(tmp_path: Path) -> None:
    tiers = load_tiers()
    assert set(tiers) >= {"free", "pro", "enterprise"} and tiers["free"].flags["watermark_required"]
    fields = apply_tier(tiers, "pro", {"features": frozenset({"chat"})})
    lic = LicenseTerms("l", **fields)
    assert lic.flags["priority"] and lic.features == {"chat"} and lic.quotas["inferences"].hard
    custom = tmp_path / "tiers.toml"
    custom.write_text('[gold]\nmodels = ["m=pin:1"]\nflags = { priority = true }\n')
    assert load_tiers(custom)["gold"].models["m"][0].version_rule == "pin:1"
    assert apply_tier(load_tiers(), "bespoke", {}) == {"tier": "bespoke"}


def test_key_index_rotation_and_constant_time_verify() -> None:
    old, new = hash_key("old"), hash_key("new")
    index = KeyIndex()
    index.apply("l", terms("l", key_hash=new, key_hashes=(new, old)))
    assert index.lookup(key_hash("old")) == index.lookup(key_hash("new")) == "l"
    t = terms("l", key_hash=new, key_hashes=(new,))
    index.apply("l", t)
    assert index.lookup(old) is None and verify_key(t, new) and not verify_key(t, old)
    index.apply("l", None)
    assert index.lookup(new) is None


def test_wrong_keys_are_slowed_after_a_burst() -> None:
    f = KeyFailures(burst=2, per_s=1.0, delay_s=0.05)
    assert [f.take("c", now=0.0) for _ in range(3)] == [True, True, False]
    assert f.take("other", now=0.0) and f.take("c", now=1.5)

    async def slowed() -> int:
        for _ in range(3):
            await f.penalise("fresh")
        return f.slowed
    assert asyncio.run(slowed()) == 1


def test_bad_arguments_name_their_field() -> None:
    m = {"metric": "inferences"}
    for body, field in (({"metric": "tokens"}, "metric"), ({**m, "quantity": "-1"}, "quantity"),
                        ({**m, "model": 5}, "model"), ({**m, "ttl_s": 0}, "ttl_s")):
        with pytest.raises(BadRequest) as err:
            Ask.parse(body, reserve=True)
        assert err.value.field == field
    with pytest.raises(BadRequest, match="metric"):
        Ask.parse({}, reserve=True)

"""Policy rules over a message's columns: the rule language, violations once per rule x subject x day,
exceptions until they expire, the check path, and a benchmark of 50 rules."""

from __future__ import annotations

import time
from typing import Any

import pytest

from meterstream.schemas import RecordCodec
from meterstream.stream_processors import alerts as k
from meterstream.stream_processors.governance.check import body_fields, judge_request, request_fields
from meterstream.stream_processors.governance.errors import PolicyError
from meterstream.stream_processors.governance.policy import parse_policy
from meterstream.stream_processors.governance.view import GovernanceView
from meterstream.stream_processors.metering import MeteringRules, apply_message
from meterstream.stream_processors.validation import BadRequest
from tests.stream_processors.factory import T0, US, columns, terms
from tests.stream_processors.governance.org import SAMPLE_POLICY, models, use_cases

DAY = 86_400 * US


def view(policy: str = SAMPLE_POLICY) -> GovernanceView:
    v = GovernanceView()
    for item in models() + use_cases():
        v.inventory.put(item)
    v._policies("p", {"text": policy, "policy_id": "sample-ai-policy", "version": 1})
    return v


def events(n: int, t0: int = T0, step_us: int = US, **tags: Any) -> dict[str, list[Any]]:
    """``n`` events from ``t0``; sequence numbers follow from the time, so later messages are not repeats."""
    base = dict(app="", use_case="", environment="prod", user_id="", sensitivity="", data_categories=(),
                provider="", purpose="", source="library", stage="", model="gpt-4o", model_version="1")
    base.update(tags)
    return columns(n, t0=t0, step_us=step_us, start_seq=(t0 - T0) // US, **base)


def violations(alerts: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return sorted((a["kind"], a["evidence"]["rule_id"]) for a in alerts
                  if a["kind"] in (k.POLICY_VIOLATION, k.POLICY_EXCEPTED))


def run(v: GovernanceView, *msgs: dict[str, list[Any]]) -> list[dict[str, Any]]:
    st, out = None, []
    for off, cols in enumerate(msgs):
        st, applied = apply_message(st, "lic-1", terms(models={}), off, cols, MeteringRules(), governance=v,
                                    event_id=cols["event_id"].__getitem__)
        out += applied.alerts
    return out


def test_sample_policy_compiles_and_bad_rules_are_named() -> None:
    assert len(parse_policy(SAMPLE_POLICY).rules) == 7
    for bad, why in [("event.nope == 1", "unknown field"), ("__import__('os')", "functions are"),
                     ("event.team < 'a'", "only one"), ("event.data_categories", "list field"),
                     ("event.team ==", "not a valid condition")]:
        with pytest.raises(PolicyError, match=why):
            parse_policy(f"policy: p\nrules:\n  - id: r1\n    when: \"{bad}\"\n")


@pytest.mark.parametrize("tags, expected", [
    (dict(use_case="support-bot", model="gpt-4o", data_categories=("customer",)), []),
    (dict(use_case="code-assist", model="llama-3"), []),
    (dict(use_case="support-bot", model="claude-x"), ["restricted-model-internal-only"]),
    (dict(use_case="code-assist", model="mystery-7b"), ["prod-approved-models-only"]),
    (dict(app="shadow-app", model="llama-3", environment="dev"), ["unregistered-application"]),
    (dict(use_case="notes-summary", model="mystery-7b", environment="dev", data_categories=("customer",)),
     ["customer-data-unreviewed-model"]),
    (dict(use_case="notes-summary", model="llama-3", environment="dev", sensitivity="regulated"),
     ["prompt-logging-regulated-data"]),
    (dict(use_case="code-assist", model="llama-3", environment="staging"), ["outside-registered-environment"]),
])
def test_each_rule_fires_once_for_its_traffic_and_never_for_compliant_traffic(tags: dict[str, Any],
                                                                             expected: list[str]) -> None:
    alerts = run(view(), events(20, **tags), events(20, t0=T0 + 60 * US, **tags))
    assert violations(alerts) == [(k.POLICY_VIOLATION, r) for r in expected]
    for a in alerts:
        if a["kind"] == k.POLICY_VIOLATION:
            assert a["evidence"]["policy_version"] == "1" and a["event_id"] and a["severity"] in ("warning", "critical")


def test_new_users_of_a_restricted_use_case_alert_once_each() -> None:
    users = ["u1", "u2", "u1", "u2", "u1"]
    alerts = run(view(), events(5, use_case="claims-triage", user_id=users),
                 events(3, t0=T0 + 60 * US, use_case="claims-triage", user_id=["u1", "u3", "u3"]))
    subjects = sorted(a["evidence"]["event.user_id"] if "event.user_id" in a["evidence"] else a["message"]
                      for a in alerts if a["kind"] == k.POLICY_VIOLATION)
    assert len(subjects) == 3 and all(a["evidence"]["rule_id"] == "new-user-restricted-use-case"
                                      for a in alerts if a["kind"] == k.POLICY_VIOLATION)


def test_a_violation_alerts_again_on_the_next_day_and_within_one_message_per_day() -> None:
    tags = dict(app="shadow-app", model="llama-3", environment="dev")
    alerts = run(view(), events(4, step_us=DAY // 2, **tags))  # events over two UTC days in one message
    assert [a["period"] for a in alerts if a["kind"] == k.POLICY_VIOLATION] == ["2026-11-22", "2026-11-23", "2026-11-24"]


def test_an_exception_suppresses_its_violation_until_it_expires() -> None:
    from meterstream.stream_processors.governance.exceptions import PolicyException

    v = view()
    v.exceptions.put(PolicyException("exc-1", "prompt-logging-regulated-data", "pilot", "ciso",
                                     expires_at_us=T0 + 30 * US, created_at_us=T0 - DAY,
                                     scope={"use_case": "notes-summary"}))
    tags = dict(use_case="notes-summary", model="llama-3", environment="dev", sensitivity="regulated")
    before = run(v, events(10, **tags))  # T0 .. T0+9s: covered
    assert violations(before) == [(k.POLICY_EXCEPTED, "prompt-logging-regulated-data")]
    spanning = run(v, events(40, **tags))  # T0 .. T0+39s (a fresh license): expires inside the message
    assert violations(spanning) == [(k.POLICY_EXCEPTED, "prompt-logging-regulated-data"),
                                    (k.POLICY_VIOLATION, "prompt-logging-regulated-data")]
    violation = [a for a in spanning if a["kind"] == k.POLICY_VIOLATION][0]
    assert violation["event_id"] == "e-p1-30"  # the first event after the expiry


def test_check_refuses_a_blocked_use_and_an_exception_lifts_it() -> None:
    from meterstream.stream_processors.governance.exceptions import PolicyException

    v = view()
    q = {"use_case": "support-bot", "model": "claude-x", "environment": "prod"}
    d = judge_request(v, None, "lic-1", request_fields(q), T0)
    assert d is not None and d["decision"] == "policy_blocked" and d["rule_id"] == "restricted-model-internal-only"
    assert judge_request(v, None, "lic-1", request_fields({**q, "model": "gpt-4o"}), T0) is None
    q2 = {"use_case": "notes-summary", "model": "llama-3", "environment": "dev", "sensitivity": "regulated"}
    assert judge_request(v, None, "lic-1", request_fields(q2), T0)["decision"] == "exception_required"  # type: ignore[index]
    v.exceptions.put(PolicyException("e", "prompt-logging-regulated-data", "pilot", "ciso", T0 + US, T0 - US))
    assert judge_request(v, None, "lic-1", request_fields(q2), T0) is None
    assert judge_request(v, None, "lic-1", request_fields(q2), T0 + US) is not None  # expired


def test_validate_body_fields_are_judged_like_check_parameters() -> None:
    """Validate/reserve by key read the event fields from the JSON body (data_categories a list)."""
    v = view()
    body = {"metric": "input_tokens", "quantity": "1", "use_case": "notes-summary", "model": "llama-3",
            "environment": "dev", "data_categories": ["pci"]}
    fields = body_fields(body)
    assert fields["data_categories"] == ("pci",) and fields["app"] == "" and fields["metric"] == "input_tokens"
    assert fields == request_fields({**body, "data_categories": "pci"})
    assert judge_request(v, None, "lic-1", fields, T0)["decision"] == "exception_required"  # type: ignore[index]
    assert judge_request(v, None, "lic-1", body_fields({**body, "data_categories": []}), T0) is None
    for bad, name in (({"use_case": 7}, "use_case"), ({"data_categories": [1]}, "data_categories"),
                      ({"data_categories": {"a": 1}}, "data_categories"), ({"app": "x" * 300}, "app")):
        with pytest.raises(BadRequest) as exc:
            body_fields(bad)
        assert exc.value.field == name


def test_view_applies_published_records() -> None:
    v = GovernanceView()
    codec = RecordCodec("inventory")
    item = models()[2]
    assert v.apply("inventory", item.key.encode(), codec.encode(item.to_record()))
    assert v.inventory.model("claude-x") == item
    assert not v.apply("policies", b"p", RecordCodec("policy").encode(
        {"policy_id": "p", "version": 1, "text": "rules: [{id: r, when: 'event.x == 1'}]", "updated_at": 0}))
    v.apply("inventory", item.key.encode(), None)
    assert v.inventory.model("claude-x") is None


def fifty_rules() -> str:
    rules = [f"  - id: r{i}\n    when: event.team == \"team-{i}\" and model.status != \"approved\" "
             f"and any_of(event.data_categories, [\"c{i}\"])\n" for i in range(45)]
    rules += [f"  - id: s{i}\n    when: 'not use_case.registered and event.environment == \"env-{i}\"'\n"
              for i in range(5)]
    return "policy: bench\nversion: 1\nrules:\n" + "".join(rules)


def test_benchmark_policy_cost_per_event_with_50_rules() -> None:
    """Cost of the policy per event on 1,000-event messages of one service (few distinct subjects)."""
    v = view(fifty_rules())
    assert v.policy is not None and len(v.policy.rules) == 50
    n, msgs = 1000, 30
    batches = [events(n, t0=T0 + i * n * US, use_case="code-assist", model="llama-3",
                      user_id=[f"u{j % 7}" for j in range(n)]) for i in range(msgs)]
    costs = []
    for gov in (None, v):
        st, started = None, time.perf_counter()
        for off, cols in enumerate(batches):
            st, _ = apply_message(st, "lic-1", terms(models={}), off, cols, MeteringRules(), governance=gov)
        costs.append((time.perf_counter() - started) / (n * msgs))
    per_event_us = (costs[1] - costs[0]) * 1e6
    print(f"\npolicy with 50 rules: {per_event_us:.3f} us per event "
          f"(metering alone {costs[0] * 1e6:.3f} us per event)")
    assert per_event_us < 5.0


def test_request_fields_refuse_a_bad_query_field_by_name() -> None:
    """The GET check's query fields are judged like a validate body (the view answers 400 naming the field)."""
    with pytest.raises(BadRequest) as exc:
        request_fields({"model": "gpt-4o", "app": "x" * 300})
    assert exc.value.field == "app"
    with pytest.raises(BadRequest) as exc:
        request_fields({"user_id": "a\x00b"})
    assert exc.value.field == "user_id"
    assert request_fields({"data_categories": "pci,,pii"})["data_categories"] == ("pci", "pii")

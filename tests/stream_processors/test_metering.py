"""apply_message: counting, thresholds, exactly-once effects, sequence tracking and anomalies (no broker)."""

from __future__ import annotations

from typing import Any

from meterstream.stream_processors import alerts as k
from meterstream.stream_processors.anomaly.spike import SpikeSettings
from meterstream.stream_processors.license.terms import quota
from meterstream.stream_processors.metering import MeteringRules, apply_message
from meterstream.stream_processors.state import LicenseState
from tests.stream_processors.factory import T0, US, columns, terms

RULES = MeteringRules(gap_grace_us=30 * US)
DAY = 86_400 * US


def run(msgs: list[dict[str, Any]], t=None, rules: MeteringRules = RULES, flag_unknown: bool = True,
        state: LicenseState | None = None, first_offset: int = 0) -> tuple[LicenseState, list[dict]]:
    t = terms() if t is None else t
    fired: list[dict] = []
    for i, cols in enumerate(msgs):
        state, applied = apply_message(state, "lic-1", t or None, first_offset + i, cols, rules,
                                       flag_unknown=flag_unknown)
        fired += applied.alerts
    assert state is not None
    return state, fired


def kinds(alerts: list[dict]) -> list[str]:
    return [a["kind"] for a in alerts]


def test_normal_traffic_raises_nothing_and_counts_everything() -> None:
    msgs = [columns(50, start_seq=i * 50, t0=T0 + i * 50 * US, quantity=1 * US) for i in range(4)]
    state, alerts = run(msgs)
    assert alerts == []
    assert state.events == 200 and state.quantity == {"input_tokens": 200 * US}


def test_thresholds_fire_once_each_and_hard_limit_exhausts() -> None:
    # limit 1000/month: 10 messages of 10 events x 10 = 100 each
    msgs = [columns(10, start_seq=i * 10, t0=T0 + i * 10 * US) for i in range(12)]
    state, alerts = run(msgs)
    thresholds = [a["threshold"] for a in alerts if a["kind"] == k.THRESHOLD]
    assert thresholds == [50, 80, 90, 100]
    assert kinds(alerts).count(k.QUOTA_EXHAUSTED) == 1
    assert state.exhausted == {"input_tokens": "2026-11"}
    assert len({a["alert_id"] for a in alerts}) == len(alerts)
    assert all(a["period"] == "2026-11" and a["event_id"] is None for a in alerts)
    assert alerts[0]["evidence"]["limit"] == "1000"


def test_redelivered_message_is_not_counted_and_resends_its_alerts_with_the_same_ids() -> None:
    msgs = [columns(10, start_seq=i * 10, t0=T0 + i * 10 * US) for i in range(6)]
    state, alerts = run(msgs)
    fifty = [a for a in alerts if a["threshold"] == 50][0]
    before = state.events, dict(state.quantity)
    # offset 4 (the 5th message) fired 50%: redeliver offsets 3..5
    again: list[dict] = []
    for off in (3, 4, 5):
        state, applied = apply_message(state, "lic-1", terms(), off, msgs[off], RULES)
        assert not applied.changed
        again += applied.alerts
    assert (state.events, state.quantity) == before
    assert [a["alert_id"] for a in again] == [fifty["alert_id"]]


def test_producer_replay_is_not_counted_twice() -> None:
    first = columns(20)
    state, _ = run([first, columns(20, start_seq=20, t0=T0 + 20 * US)])
    # the producer replays its spool: same sequence numbers, new Kafka offsets
    state, alerts = run([first], state=state, first_offset=2)
    assert state.events == 40 and state.repeats == 20
    assert kinds(alerts) == [k.SEQUENCE_REPEAT]
    assert alerts[0]["severity"] == "info" and alerts[0]["evidence"]["repeated"] == "20"


def test_gap_reported_after_grace_and_a_late_fill_still_counts() -> None:
    msgs = [columns(10), columns(10, start_seq=15, t0=T0 + 15 * US)]
    state, alerts = run(msgs)
    assert alerts == []  # the hole 10..14 may still be filled
    later = columns(5, start_seq=25, t0=T0 + 60 * US)
    state, alerts = run([later], state=state, first_offset=2)
    assert kinds(alerts) == [k.SEQUENCE_GAP]
    assert alerts[0]["evidence"]["missing_from"] == "10" and alerts[0]["evidence"]["missing_to"] == "14"
    fill = columns(5, start_seq=10, t0=T0 + 10 * US)
    state, alerts = run([fill], state=state, first_offset=3)
    assert state.events == 30 and state.repeats == 0 and alerts == []


def test_late_event_counts_in_its_own_period_and_new_period_rearms() -> None:
    t = terms(quotas={"output_tokens": quota("output_tokens", 100, "day", thresholds=[50])})
    day1 = columns(6, metric="output_tokens")
    day2 = columns(6, start_seq=6, t0=T0 + DAY, metric="output_tokens")
    late = columns(1, start_seq=12, t0=T0 + 100 * US, metric="output_tokens")
    state, alerts = run([day1, day2, late], t=t)
    assert [a["period"] for a in alerts] == ["2026-11-22", "2026-11-23"]
    assert state.days["output_tokens"] == {"2026-11-22": 70 * US, "2026-11-23": 60 * US}


def test_rolling_window_rearms_when_usage_falls_back() -> None:
    t = terms(quotas={"input_tokens": quota("input_tokens", 100, "rolling:60", hard=True, thresholds=[100])})
    burst = columns(10)
    quiet = columns(1, start_seq=10, t0=T0 + 120 * US)  # window now holds only 10
    burst2 = columns(10, start_seq=11, t0=T0 + 130 * US)
    state, alerts = run([burst, quiet, burst2], t=t)
    assert kinds(alerts) == [k.THRESHOLD, k.QUOTA_EXHAUSTED, k.THRESHOLD, k.QUOTA_EXHAUSTED]
    assert len({a["alert_id"] for a in alerts}) == 4


def anomaly(**overrides: Any) -> list[dict]:
    _, alerts = run([columns(5, **overrides)])
    return alerts


def test_each_term_anomaly_carries_evidence() -> None:
    a = anomaly(model="gpt-x")
    assert kinds(a) == [k.MODEL_NOT_ALLOWED] and a[0]["evidence"]["model"] == "gpt-x"
    assert kinds(anomaly(model_version="4.0.0")) == [k.MODEL_NOT_ALLOWED]
    assert kinds(anomaly(model="whisper", model_version="3.0.1")) == [k.MODEL_NOT_ALLOWED]
    a = anomaly(hardware_id="gpu-9")
    assert kinds(a) == [k.HARDWARE_NOT_ALLOWED] and a[0]["evidence"]["allowed"] == "gpu-1,gpu-2,gpu-3"
    assert kinds(anomaly(hardware_id=["gpu-1", "gpu-2", "gpu-3", "gpu-1", "gpu-2"])) == [k.HARDWARE_LIMIT]
    assert kinds(anomaly(region="us-east-1")) == [k.REGION_NOT_ALLOWED]
    assert kinds(anomaly(feature="translate")) == [k.FEATURE_NOT_ENABLED]
    assert kinds(run([columns(3)], t=terms(status="revoked"))[1]) == [k.LICENSE_REVOKED]
    assert kinds(run([columns(3)], t=terms(status="suspended"))[1]) == [k.LICENSE_SUSPENDED]
    a = run([columns(3)], t=terms(expires_us=T0 + US))[1]
    assert kinds(a) == [k.EXPIRED] and a[0]["evidence"]["event_time_us"] == str(T0 + 2 * US)
    assert kinds(run([columns(3)], t=terms(not_before_us=T0 + 10 * US))[1]) == [k.NOT_YET_VALID]


def test_anomaly_fires_once_per_offender_per_day() -> None:
    msgs = [columns(5, start_seq=i * 5, t0=T0 + i * 5 * US, region="us-east-1") for i in range(4)]
    _, alerts = run(msgs)
    assert kinds(alerts) == [k.REGION_NOT_ALLOWED]


def test_unknown_license_waits_until_allowed() -> None:
    state, alerts = run([columns(5)], t=False, flag_unknown=False)
    assert alerts == [] and state.events == 5 and state.unknown_events == 5
    state, alerts = run([columns(5, start_seq=5)], t=False, state=state, first_offset=1)
    assert kinds(alerts) == [k.UNKNOWN_LICENSE]


def steady(buckets: int, per_bucket: int = 5, qty: int = 10 * US, start_seq: int = 0) -> list[dict]:
    """One message per minute, ``per_bucket`` events each."""
    return [columns(per_bucket, start_seq=start_seq + b * per_bucket, t0=T0 + b * 60 * US, step_us=US,
                    quantity=qty) for b in range(buckets)]


def test_spend_spike_against_license_and_team_baselines() -> None:
    t = terms(quotas={})
    rules = MeteringRules(spike=SpikeSettings(min_history=5))
    state, alerts = run(steady(12), t=t, rules=rules)
    assert alerts == []
    spike_msg = columns(20, start_seq=60, t0=T0 + 12 * 60 * US, quantity=10 * US)
    state, alerts = run([spike_msg], t=t, rules=rules, state=state, first_offset=12)
    assert sorted(a["evidence"]["scope"] for a in alerts) == ["license", "team"]
    ev = alerts[0]["evidence"]
    assert ev["total"] == "200" and ev["baseline_mean"] == "50" and ev["history_buckets"] == "12"


def test_spike_needs_history() -> None:
    rules = MeteringRules(spike=SpikeSettings(min_history=20))
    msgs = steady(12) + [columns(50, start_seq=60, t0=T0 + 12 * 60 * US)]
    _, alerts = run(msgs, t=terms(quotas={}), rules=rules)
    assert alerts == []


def test_month_threshold_marks_outlive_the_day_they_fired() -> None:
    """A month's threshold fires once even when the month goes on for weeks after it."""
    msgs = [columns(60, t0=T0 - 20 * DAY), columns(1, start_seq=60, t0=T0 + 5 * DAY)]
    _, alerts = run(msgs)
    assert [a["threshold"] for a in alerts] == [50]


def test_an_event_without_a_feature_is_not_judged_against_the_enabled_features() -> None:
    assert anomaly(feature="") == []


def test_a_spike_of_events_without_a_team_alerts_once() -> None:
    t = terms(quotas={})
    rules = MeteringRules(spike=SpikeSettings(min_history=5))
    quiet = [columns(5, start_seq=b * 5, t0=T0 + b * 60 * US, step_us=US, quantity=10 * US, team="")
             for b in range(12)]
    state, alerts = run(quiet, t=t, rules=rules)
    assert alerts == []
    spike_msg = columns(20, start_seq=60, t0=T0 + 12 * 60 * US, quantity=10 * US, team="")
    _, alerts = run([spike_msg], t=t, rules=rules, state=state, first_offset=12)
    assert [a["evidence"]["scope"] for a in alerts] == ["license"]


def test_a_violation_after_repeated_events_names_the_violating_event() -> None:
    """Repeats are dropped before judging; the alert must still name the event (and day) of the message
    that broke the terms, not the event at the same position among the counted ones."""
    first = columns(3)
    replay = columns(5, model=["llama-3", "llama-3", "llama-3", "llama-3", "gpt-x"])  # seq 0..2 repeat
    replay["event_id"] = [f"r-{i}" for i in range(5)]
    ids = {i: replay["event_id"][i] for i in range(5)}
    state, _ = run([first])
    state, applied = apply_message(state, "lic-1", terms(), 1, replay, RULES, event_id=ids.get)
    violation = [a for a in applied.alerts if a["kind"] == k.MODEL_NOT_ALLOWED]
    assert len(violation) == 1 and violation[0]["event_id"] == "r-4"


def test_counting_by_buckets_equals_counting_event_by_event() -> None:
    """_count adds per-day usage up from the spike buckets; the per-event walk is the reference
    (dict order included: the state's encoding and the alerts follow it)."""
    import random

    from meterstream.stream_processors.metering import _count, _count_per_event

    rng = random.Random(16)
    for _ in range(200):
        n = rng.randint(1, 300)
        start = T0 - 12 * 3600 * US - rng.randint(0, 3) * DAY - rng.randint(0, 3600) * US  # across a midnight
        times = sorted(start + rng.randint(0, 2 * 3600) * US for _ in range(n))
        if rng.random() < 0.3:
            rng.shuffle(times)  # late events: a message need not be in time order
        cols = {"event_time": times, "metric": [rng.choice(["input_tokens", "output_tokens"]) for _ in range(n)],
                "quantity": [rng.randint(1, 5000) * US for _ in range(n)],
                "team": [rng.choice(["", "search", "ads"]) for _ in range(n)] if rng.random() < 0.3 else
                ["search"] * n}  # one team (most services): the bucket slices are summed at C speed
        a, b = LicenseState(), LicenseState()
        got, expected = _count(a, cols, 60 * US), _count_per_event(b, cols, 60 * US)
        assert got == expected and list(got[0]) == list(expected[0]) and list(got[1]) == list(expected[1])
        assert a == b and list(a.days) == list(b.days) and list(a.quantity) == list(b.quantity)


def test_distinct_hardware_of_a_month_equals_the_per_event_walk() -> None:
    import random

    from meterstream.stream_processors.anomaly.rules import BatchView, _hardware_of_one_month, _hardware_per_event

    rng = random.Random(4)
    for _ in range(50):
        n = rng.randint(1, 200)
        times = [T0 + rng.randint(0, 3600) * US for _ in range(n)]
        hardware = [rng.choice(["", "gpu-1", "gpu-2", "gpu-3", "gpu-4"]) for _ in range(n)]
        seen_before = {"2026-11": rng.sample(["gpu-1", "gpu-2", "gpu-9"], rng.randint(0, 3))}
        view = BatchView(times, ["m"] * n, ["1"] * n, hardware, [""] * n, [""] * n)
        a, b = {k: list(v) for k, v in seen_before.items()}, {k: list(v) for k, v in seen_before.items()}
        assert _hardware_of_one_month(view, a) == _hardware_per_event(view, b) and a == b
    spanning = BatchView([T0, T0 + 20 * DAY], ["m"] * 2, ["1"] * 2, ["gpu-1"] * 2, [""] * 2, [""] * 2)
    assert _hardware_of_one_month(spanning, {}) is None


def test_bucket_slices_sum_what_the_per_event_loop_sums(monkeypatch: Any) -> None:
    """The slice path (one team, time order, few buckets) is taken and gives the loop's sums and key order."""
    import random

    from meterstream.stream_processors import bucket_sums as bs

    rng = random.Random(7)
    cases = []
    for _ in range(200):
        n = rng.randint(16, 600)
        span = rng.choice([1, 59, 600, 3000]) * US
        times = sorted(T0 - 30 * US + rng.randint(0, span) for _ in range(n))  # some around a bucket edge
        metrics = [rng.choice(["input_tokens", "output_tokens", "requests"][:rng.randint(1, 3)]) for _ in range(n)]
        cases.append((metrics, [rng.randint(1, 10**9) for _ in range(n)], times, ["ads"] * n))
    expected = [bs._per_event(*case, 60 * US) for case in cases]

    def no_loop(*args: Any) -> Any:
        raise AssertionError("the per-event loop ran")

    monkeypatch.setattr(bs, "_per_event", no_loop)
    for case, want in zip(cases, expected):
        got = bs.bucket_sums(*case, 60 * US)
        assert got == want and list(got) == list(want)

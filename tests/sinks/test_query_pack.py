"""Every query-pack entry on known data, through the same runner `meterstream sql` uses."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from meterstream.sinks import query_pack
from meterstream.sinks.budgets import load_budgets
from meterstream.sinks.pricing.catalog import load_catalog
from meterstream.sinks.record_sink import ALERT_COLUMNS, LICENSE_COLUMNS, alert_row, license_row
from tests.sinks.conftest import batch, tagged, write

pytestmark = pytest.mark.integration
UTC = timezone.utc
D = Decimal


@pytest.fixture
def known(clickhouse, tag, tmp_path: Path) -> dict[str, str]:
    """Two teams, three licenses, two models, prices with tiers, budgets, quotas, grants and alerts."""
    m1, m2 = f"alpha-{tag}", f"beta-{tag}"
    ta, tb = f"team-a-{tag}", f"team-b-{tag}"
    l1, l2, l3 = (f"lic{i}-{tag}" for i in (1, 2, 3))
    cat = tmp_path / "prices.csv"
    cat.write_text("model,version_pattern,metric,unit_price,currency,effective_from,effective_to,tier_from\n"
                   f"{m1},*,input_tokens,0.001,USD,2026-01-01,,0\n{m1},*,input_tokens,0.0005,USD,2026-01-01,,1000\n"
                   f"{m2},*,input_tokens,0.002,USD,2026-01-01,,0\n")
    load_catalog(clickhouse, cat)
    nov = datetime(2026, 11, 3, 9)
    write(clickhouse,
          batch(l1, 10, when=nov, model=m1, team=ta, quantity=100_000_000, latency=1000),        # 1000 tok, $1
          batch(l1, 5, when=nov, model=m1, team=ta, quantity=100_000_000, status="error", latency=3000),  # 500, $0.5
          batch(l2, 4, when=nov, model=m2, version="2.0.0", team=tb, quantity=250_000_000, latency=2000),  # 1000, $2
          batch(l3, 2, when=datetime(2026, 10, 5), model=m1, team=tb, quantity=1_000_000))      # October
    budgets = tmp_path / "budgets.csv"
    budgets.write_text(f"team,month,amount,currency\n{ta},2026-11,1.00,USD\n{tb},2026-11,5,USD\n")
    load_budgets(clickhouse, budgets)
    t = datetime(2026, 11, 1, tzinfo=UTC)
    lic = {"key_hash": "", "tenant": "acme", "tier": "pro", "status": "active", "not_before": None,
           "expires_at": None, "hardware_ids": [], "max_hardware": None, "regions": [], "features": []}
    clickhouse.insert("license_snapshots", [
        license_row({**lic, "license_id": l1, "updated_at": t, "models": [{"model": m1, "version_rule": "latest"}],
                     "quotas": [{"metric": "input_tokens", "limit": D(2000), "period": "month", "hard": False}]}),
        license_row({**lic, "license_id": l2, "updated_at": t, "models": [{"model": m2, "version_rule": "pin:1.0.0"}],
                     "quotas": [{"metric": "input_tokens", "limit": D(1250), "period": "month", "hard": True}]}),
    ], column_names=LICENSE_COLUMNS)
    alert = {"severity": "warning", "tenant": "acme", "metric": "input_tokens", "period": "2026-11",
             "threshold": 80, "message": "", "evidence": {"used": "1000"}, "event_id": None}
    clickhouse.insert("alerts", [alert_row({**alert, "alert_id": f"{tag}-{i}", "kind": k, "license_id": l,
                                            "team": tm, "created_at": datetime(2026, 11, 3, 10, tzinfo=UTC)})
                                 for i, (k, l, tm) in enumerate([("threshold", l2, tb), ("threshold", l2, tb),
                                                                 ("unapproved_model", l2, tb)])], column_names=ALERT_COLUMNS)
    # The same alert delivered twice counts once.
    clickhouse.insert("alerts", [alert_row({**alert, "alert_id": f"{tag}-0", "kind": "threshold", "license_id": l2,
                                            "team": tb, "created_at": datetime(2026, 11, 3, 10, tzinfo=UTC)})],
                      column_names=ALERT_COLUMNS)
    return {"m1": m1, "m2": m2, "ta": ta, "tb": tb, "l1": l1, "l2": l2, "l3": l3, "tag": tag}


def _run(client, name: str, **params: str) -> list[dict]:
    cols, rows = query_pack.run(client, query_pack.text(name), params)
    return [dict(zip(cols, r)) for r in rows]


NOV = {"start": "2026-11-01 00:00:00", "end": "2026-12-01 00:00:00"}


def test_spend_by_team_model_and_budget_variance(clickhouse, known) -> None:
    rows = [r for r in _run(clickhouse, "spend_by_team_model", start_month="2026-10-01", end_month="2026-11-01")
            if known["tag"] in r["team"]]
    got = {(str(r["month"]), r["team"], r["model"]): r["spend"] for r in rows}
    assert got == {("2026-10-01", known["tb"], known["m1"]): D("0.002"),
                   ("2026-11-01", known["ta"], known["m1"]): D("1.5"),
                   ("2026-11-01", known["tb"], known["m2"]): D("2")}
    var = {r["team"]: (r["spend"], r["budget"], r["variance"]) for r in _run(clickhouse, "budget_variance",
                                                                             month="2026-11-15")
           if known["tag"] in r["team"]}
    assert var == {known["ta"]: (D("1.5"), D(1), D("0.5")), known["tb"]: (D(2), D(5), D(-3))}


def test_top_licenses_by_usage_and_quota(clickhouse, known) -> None:
    top = [r for r in _run(clickhouse, "top_licenses_by_usage", **NOV, metric="input_tokens", top="1000")
           if known["tag"] in r["license_id"]]
    assert [(r["license_id"], r["quantity"]) for r in top] == [(known["l1"], D(1500)), (known["l2"], D(1000))]
    quota = {r["license_id"]: r["pct_of_quota"] for r in _run(clickhouse, "top_licenses_by_quota",
                                                              month="2026-11-01", top="1000")
             if known["tag"] in r["license_id"]}
    assert quota == {known["l1"]: 75.0, known["l2"]: 80.0}


def test_unapproved_models(clickhouse, known) -> None:
    rows = [(r["license_id"], r["model"], r["model_version"], r["events"], r["no_license_snapshot"])
            for r in _run(clickhouse, "unapproved_model_usage", **NOV) if known["tag"] in r["license_id"]]
    assert rows == [(known["l2"], known["m2"], "2.0.0", 4, False)]  # l2 is pinned to 1.0.0; l1 uses its grant
    octo = [r for r in _run(clickhouse, "unapproved_model_usage", start="2026-10-01 00:00:00",
                            end="2026-11-01 00:00:00") if known["tag"] in r["license_id"]]
    assert [(r["license_id"], r["no_license_snapshot"]) for r in octo] == [(known["l3"], True)]


def test_alerts_latency_and_audit(clickhouse, known) -> None:
    alerts = {(r["kind"], r["alerts"]) for r in _run(clickhouse, "alerts_by_team", **NOV) if r["team"] == known["tb"]}
    assert alerts == {("threshold", 2), ("unapproved_model", 1)}
    lat = {r["model"]: (r["events"], r["errors"], r["p50_us"]) for r in _run(clickhouse, "model_latency_errors", **NOV)
           if known["tag"] in r["model"]}
    assert lat == {known["m1"]: (15, 5, 1000), known["m2"]: (4, 0, 2000)}
    events = _run(clickhouse, "audit_events", license=known["l1"], **NOV)
    assert len(events) == 15 and all(e["input_hash"] == "a" * 64 and e["cost"] == D("0.1") for e in events)
    assert len(_run(clickhouse, "audit_alerts", license=known["l2"], **NOV)) == 3


def test_tiered_cost(clickhouse, known) -> None:
    rows = {r["license_id"]: r["tiered_cost"] for r in _run(clickhouse, "tiered_cost", month="2026-11-01")
            if known["tag"] in r["license_id"]}
    # l1: 1500 tokens of alpha: 1000 at 0.001 + 500 at 0.0005; l2: beta has one tier.
    assert rows == {known["l1"]: D("1.25"), known["l2"]: D("2")}


@pytest.fixture
def pipelines(clickhouse, tag, tmp_path: Path) -> dict[str, str]:
    """v2 events: two providers, two sources, one two-stage trace, cached and reasoning tokens; and v1 events."""
    m, team, lic = f"gamma-{tag}", f"team-c-{tag}", f"lic-v2-{tag}"
    trace, other = f"{tag}{'0' * 24}", f"{tag}{'1' * 24}"
    cat = tmp_path / "prices.csv"
    cat.write_text("model,version_pattern,metric,unit_price,currency,effective_from,effective_to,tier_from\n"
                   f"{m},*,input_tokens,0.001,USD,2026-01-01,,0\n{m},*,output_tokens,0.004,USD,2026-01-01,,0\n"
                   f"{m},*,cached_input_tokens,-0.0005,USD,2026-01-01,,0\n"
                   f"{m},*,reasoning_tokens,0,USD,2026-01-01,,0\n")
    load_catalog(clickhouse, cat)
    t = datetime(2026, 12, 2, 8)
    write(clickhouse,
          # trace: retrieve (openai, 100 input tokens, 40 of them cached) then generate (self-hosted, 50 output)
          tagged(batch(lic, 1, when=t, model=m, team=team, quantity=100_000_000), provider="openai",
                 source="openai-sdk", trace_id=trace, stage="retrieve"),
          tagged(batch(lic, 1, when=t, model=m, team=team, metric="cached_input_tokens", quantity=40_000_000),
                 provider="openai", source="openai-sdk", trace_id=trace, stage="retrieve"),
          tagged(batch(lic, 2, when=t, model=m, team=team, metric="output_tokens", quantity=25_000_000),
                 provider="self-hosted", source="library", trace_id=trace, stage="generate"),
          tagged(batch(lic, 1, when=t, model=m, team=team, metric="reasoning_tokens", quantity=10_000_000),
                 provider="self-hosted", source="library", trace_id=trace, stage="generate"),
          tagged(batch(lic, 3, when=t, model=m, team=team, quantity=1_000_000), provider="openai",
                 source="otlp", trace_id=other, stage="retrieve"),
          batch(lic, 2, when=t, model=m, team=team, quantity=1_000_000))  # v1-shaped: no provider, no source
    return {"m": m, "team": team, "lic": lic, "trace": trace}


DEC = {"start": "2026-12-01 00:00:00", "end": "2027-01-01 00:00:00"}


def test_spend_by_provider_model(clickhouse, pipelines) -> None:
    rows = {(r["provider"], r["source"]): (r["events"], r["spend"])
            for r in _run(clickhouse, "spend_by_provider_model", **DEC) if r["team"] == pipelines["team"]}
    # openai-sdk: 100 input tokens at 0.001 and 40 cached at -0.0005 = 0.1 - 0.02; library: 50 output at 0.004
    assert rows == {("openai", "openai-sdk"): (2, D("0.08")), ("self-hosted", "library"): (3, D("0.2")),
                    ("openai", "otlp"): (3, D("0.003")), ("", ""): (2, D("0.002"))}


def test_trace_stage_cost(clickhouse, pipelines) -> None:
    rows = [(r["stage"], r["provider"], r["metric"], r["events"], r["quantity"], r["cost"])
            for r in _run(clickhouse, "trace_stage_cost", trace=pipelines["trace"])]
    assert sorted(rows) == [
        ("generate", "self-hosted", "output_tokens", 2, D(50), D("0.2")),
        ("generate", "self-hosted", "reasoning_tokens", 1, D(10), D(0)),
        ("retrieve", "openai", "cached_input_tokens", 1, D(40), D("-0.02")),
        ("retrieve", "openai", "input_tokens", 1, D(100), D("0.1"))]
    assert _run(clickhouse, "trace_stage_cost", trace="no-such-trace") == []


def test_rollups_keep_provider_use_case_and_stage(clickhouse, pipelines) -> None:
    p = {"l": pipelines["lic"]}
    daily = clickhouse.query("SELECT provider, use_case, stage, sum(events), sum(cost) FROM usage_daily "
                             "WHERE license_id = {l:String} GROUP BY ALL ORDER BY ALL", parameters=p).result_rows
    raw = clickhouse.query("SELECT provider, use_case, stage, count(), sum(ifNull(cost, toDecimal128(0, 18))) "
                           "FROM usage_events WHERE license_id = {l:String} GROUP BY ALL ORDER BY ALL",
                           parameters=p).result_rows
    monthly = clickhouse.query("SELECT provider, use_case, stage, sum(events), sum(cost) FROM usage_monthly "
                               "WHERE license_id = {l:String} GROUP BY ALL ORDER BY ALL", parameters=p).result_rows
    assert daily == raw == monthly and ("self-hosted", "", "generate", 3, D("0.2")) in raw


def test_missing_parameter_is_named(clickhouse) -> None:
    from meterstream.sinks.errors import SinkError
    with pytest.raises(SinkError, match="month"):
        query_pack.run(clickhouse, query_pack.text("budget_variance"), {})


def test_validation_results_and_terms_in_force_at_the_time(clickhouse, known) -> None:
    from meterstream.sinks.record_sink import (DECISION_COLUMNS, RELEASE_COLUMNS, decision_row, license_row,
                                               release_row)
    l1, m1 = known["l1"], known["m1"]
    at = datetime(2026, 11, 3, 9, 30, tzinfo=UTC)
    base = {"kind": "validate", "license_id": l1, "message": "", "terms_version": None, "tier": "pro",
            "client": "127.0.0.1", "feature": "chat", "metric": "inferences", "quantity": D(1), "model": m1,
            "model_version": "1", "hardware_id": "", "region": "", "reservation_id": ""}
    clickhouse.insert("license_decisions", [decision_row({**base, "decision_id": f"d-{known['tag']}-{i}",
                                                          "valid": ok, "code": code, "decided_at": at})
                                            for i, (ok, code) in enumerate([(True, "ok"), (False, "quota_exceeded")])],
                      column_names=DECISION_COLUMNS)
    rows = _run(clickhouse, "validation_results", license=l1, **NOV)
    assert [(r["code"], r["valid"]) for r in rows] == [("ok", 1), ("quota_exceeded", 0)]
    # l1's grant changes to pin:9 on Nov 20: its Nov 3 use stays approved (judged by the terms of Nov 3),
    # and a release catalog makes `latest` mean the newest release only.
    lic = {"key_hash": "", "tenant": "acme", "tier": "pro", "status": "active", "not_before": None,
           "expires_at": None, "hardware_ids": [], "max_hardware": None, "regions": [], "features": [], "quotas": []}
    clickhouse.insert("license_snapshots", [license_row({**lic, "license_id": l1, "updated_at": datetime(
        2026, 11, 20, tzinfo=UTC), "models": [{"model": m1, "version_rule": "pin:9"}]})], column_names=LICENSE_COLUMNS)
    assert not [r for r in _run(clickhouse, "unapproved_model_usage", **NOV) if r["license_id"] == l1]
    clickhouse.insert("model_releases", [release_row({"model": m1, "version": v, "released_at": datetime(
        2026, 10, d, tzinfo=UTC), "withdrawn": False}) for v, d in (("1.0.0", 1), ("2.0.0", 2))],
        column_names=RELEASE_COLUMNS)
    flagged = [r for r in _run(clickhouse, "unapproved_model_usage", **NOV) if r["license_id"] == l1]
    assert [(r["model_version"], r["events"]) for r in flagged] == [("1.0.0", 15)]


def test_uses_that_were_never_validated(clickhouse, known) -> None:
    from meterstream.sinks.record_sink import DECISION_COLUMNS, decision_row
    from tests.sinks.conftest import tagged
    tag, lx = known["tag"], f"licx-{known['tag']}"
    at = datetime(2026, 11, 4, 9, tzinfo=UTC)
    clickhouse.insert("license_decisions", [decision_row({
        "decision_id": f"dec-{tag}", "kind": "validate", "license_id": lx, "valid": True, "code": "ok", "message": "",
        "terms_version": None, "tier": "pro", "client": "", "feature": "", "metric": "inferences", "quantity": D(1),
        "model": "m", "model_version": "", "hardware_id": "", "region": "", "reservation_id": "", "decided_at": at})],
        column_names=DECISION_COLUMNS)
    write(clickhouse, tagged(batch(lx, 3, when=datetime(2026, 11, 4, 10)), decision_id=f"dec-{tag}"),
          tagged(batch(lx, 2, when=datetime(2026, 11, 4, 11)), decision_id="dec-forged"),
          batch(lx, 1, when=datetime(2026, 11, 4, 12)))
    rows = [r for r in _run(clickhouse, "unvalidated_usage", **NOV) if r["license_id"] == lx]
    assert [(r["events"], r["without_decision_id"]) for r in rows] == [(3, 1)]


# top_licenses_by_usage as it read before it learned to read whole days from usage_daily: the reference
# its answers must equal, whatever the range (whole days, hours, minutes, across months).
TOP_BY_USAGE_HOURLY = """
SELECT license_id, sum(events) AS events, sum(quantity) AS quantity, sum(cost) AS cost
FROM usage_hourly
WHERE hour >= {start:DateTime} AND hour < {end:DateTime} AND metric = {metric:String}
GROUP BY license_id
ORDER BY quantity DESC, license_id
LIMIT {top:UInt32}"""


@pytest.mark.parametrize("start, end", [
    ("2026-11-01 00:00:00", "2026-12-01 00:00:00"),  # whole days: read from usage_daily
    ("2026-10-01 00:00:00", "2026-12-01 00:00:00"),  # whole days over two months
    ("2026-11-03 00:00:00", "2026-11-04 00:00:00"),  # one whole day
    ("2026-11-03 09:00:00", "2026-11-03 10:00:00"),  # one hour: read from usage_hourly
    ("2026-11-03 08:30:00", "2026-11-05 00:00:00"),  # starts mid-hour: usage_hourly
    ("2026-10-05 00:00:00", "2026-11-03 09:00:01"),  # ends a second into an hour: usage_hourly
])
def test_top_licenses_by_usage_equals_the_hourly_answer(clickhouse, known, start: str, end: str) -> None:
    params = {"start": start, "end": end, "metric": "input_tokens", "top": "100000"}
    got = [r for r in _run(clickhouse, "top_licenses_by_usage", **params) if known["tag"] in r["license_id"]]
    cols, rows = query_pack.run(clickhouse, TOP_BY_USAGE_HOURLY, params)
    want = [r for r in (dict(zip(cols, row)) for row in rows) if known["tag"] in r["license_id"]]
    assert got == want and got  # every range holds some of the known events


# spend_by_provider_model as it read before usage_spend: over raw events, the reference its answers must
# equal whether the range is read from usage_spend (whole days) or from raw events (any other range).
SPEND_BY_PROVIDER_RAW = """
SELECT provider, model, team, source, currency, count() AS events, sum(quantity) AS quantity,
       sum(ifNull(cost, toDecimal128(0, 18))) AS spend, countIf(unit_price IS NULL) AS unpriced
FROM usage_events
WHERE event_time >= {start:DateTime} AND event_time < {end:DateTime}
GROUP BY provider, model, team, source, currency
ORDER BY provider, model, team, source, currency"""


@pytest.mark.parametrize("start, end", [
    ("2026-12-01 00:00:00", "2027-01-01 00:00:00"),  # whole days: read from usage_spend
    ("2026-11-01 00:00:00", "2027-01-01 00:00:00"),  # whole days over two months
    ("2026-12-02 00:00:00", "2026-12-02 12:00:00"),  # part of a day: raw events
    ("2026-11-30 23:59:59", "2027-01-01 00:00:00"),  # starts a second before a day: raw events
])
def test_spend_by_provider_model_equals_the_raw_answer(clickhouse, pipelines, known, start: str, end: str) -> None:
    params = {"start": start, "end": end}
    mine = (pipelines["team"], known["ta"], known["tb"])
    got = [r for r in _run(clickhouse, "spend_by_provider_model", **params) if r["team"] in mine]
    cols, rows = query_pack.run(clickhouse, SPEND_BY_PROVIDER_RAW, params)
    want = [r for r in (dict(zip(cols, row)) for row in rows) if r["team"] in mine]
    assert got == want and got

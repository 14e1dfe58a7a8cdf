"""Exact per-event cost by model, version pattern, metric and effective date; repricing; rollups = raw."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from meterstream.sinks.pricing.catalog import CatalogError, load_catalog
from meterstream.sinks.pricing.reprice import reprice
from tests.sinks.conftest import batch, write

pytestmark = pytest.mark.integration


def _catalog(tmp_path: Path, model: str, rows: list[str]) -> Path:
    p = tmp_path / "prices.csv"
    p.write_text("model,version_pattern,metric,unit_price,currency,effective_from,effective_to,tier_from\n"
                 + "".join(r.replace("M,", f"{model},", 1) + "\n" for r in rows))
    return p


def _cost(client, lic: str) -> dict[str, tuple[Decimal, str]]:
    rows = client.query("SELECT model_version, sum(cost), any(currency) FROM usage_events "
                        "WHERE license_id = {l:String} GROUP BY model_version", parameters={"l": lic}).result_rows
    return {v: (c, cur) for v, c, cur in rows}


def test_cost_is_exact_and_follows_pattern_and_date(clickhouse, tag, tmp_path: Path) -> None:
    model, lic = f"m-{tag}", f"lic-{tag}"
    load_catalog(clickhouse, _catalog(tmp_path, model, [
        "M,*,input_tokens,0.0000025,USD,2026-01-01,,0",
        "M,2.*,input_tokens,0.0000031,USD,2026-01-01,2026-02-01,0",
        "M,2.*,input_tokens,0.0000033,USD,2026-02-01,,0",
        "M,2.1.0,input_tokens,0.000004,EUR,2026-01-01,,0",
        "M,*,pages,0.01,USD,2026-01-01,,0",
    ]))
    q = 1_234_567  # 1.234567 tokens, unscaled
    write(clickhouse,
          batch(lic, 3, when=datetime(2026, 1, 15), model=model, version="1.0.0", quantity=q),
          batch(lic, 3, when=datetime(2026, 1, 15), model=model, version="2.0.0", quantity=q),
          batch(lic, 3, when=datetime(2026, 2, 15), model=model, version="2.5.0", quantity=q),
          batch(lic, 3, when=datetime(2026, 2, 15), model=model, version="2.1.0", quantity=q),
          batch(lic, 2, when=datetime(2026, 2, 15), model=model, version="9", metric="pages", quantity=3_000_000))
    qty = Decimal("1.234567") * 3
    got = _cost(clickhouse, lic)
    assert got["1.0.0"] == (qty * Decimal("0.0000025"), "USD")
    assert got["2.0.0"] == (qty * Decimal("0.0000031"), "USD")
    assert got["2.5.0"] == (qty * Decimal("0.0000033"), "USD")
    assert got["2.1.0"] == (qty * Decimal("0.000004"), "EUR")
    assert got["9"] == (Decimal("0.06"), "USD")


def test_unpriced_events_are_kept_and_flagged(clickhouse, tag, tmp_path: Path) -> None:
    lic = f"lic-{tag}"
    write(clickhouse, batch(lic, 4, when=datetime(2026, 1, 3), model=f"unknown-{tag}"))
    row = clickhouse.query("SELECT count(), countIf(cost IS NULL) FROM usage_events WHERE license_id = {l:String}",
                           parameters={"l": lic}).result_rows[0]
    assert row == (4, 4)
    assert clickhouse.query("SELECT sum(unpriced) FROM usage_hourly WHERE license_id = {l:String}",
                            parameters={"l": lic}).result_rows[0][0] == 4


def test_reprice_range_updates_raw_and_rollups(clickhouse, tag, tmp_path: Path) -> None:
    model, lic = f"m-{tag}", f"lic-{tag}"
    load_catalog(clickhouse, _catalog(tmp_path, model, ["M,*,input_tokens,0.5,USD,2025-01-01,,0"]))
    write(clickhouse, batch(lic, 10, when=datetime(2025, 5, 10, 8), model=model, hardware="a"),
          batch(lic, 10, when=datetime(2025, 5, 20, 9), model=model, hardware="b"),
          batch(lic, 10, when=datetime(2025, 6, 1, 7), model=model, hardware="c"))
    load_catalog(clickhouse, _catalog(tmp_path, model, ["M,*,input_tokens,0.5,USD,2025-01-01,2025-05-15,0",
                                                        "M,*,input_tokens,0.75,USD,2025-05-15,,0"]))
    assert reprice(clickhouse, datetime(2025, 5, 15), datetime(2025, 5, 31)) == 10
    by_day = dict(clickhouse.query(
        "SELECT toDate(event_time), sum(cost) FROM usage_events WHERE license_id = {l:String} GROUP BY 1",
        parameters={"l": lic}).result_rows)
    assert [by_day[k] for k in sorted(by_day)] == [Decimal(5), Decimal("7.5"), Decimal(5)]  # June not repriced
    assert_rollups_match_raw(clickhouse, lic)


def assert_rollups_match_raw(client, lic: str) -> None:
    """Hourly, daily, monthly and spend rollups give the same numbers as the same query over raw events
    (distinct hardware is kept per hour and per month, not per day, since migration 0060)."""
    p = {"l": lic}
    for table, bucket in (("usage_hourly", "toStartOfHour(event_time)"),
                          ("usage_daily", "toDateTime(toStartOfDay(event_time), 'UTC')")):
        rolled = client.query(f"SELECT hour, team, model, metric, currency, sum(events), sum(quantity), sum(cost) "
                              f"FROM {table} WHERE license_id = {{l:String}} "
                              "GROUP BY ALL ORDER BY ALL", parameters=p).result_rows
        raw = client.query(f"SELECT {bucket} AS hour, team, model, metric, currency, count(), sum(quantity), "
                           "sum(ifNull(cost, toDecimal128(0, 18))) FROM usage_events "
                           "WHERE license_id = {l:String} GROUP BY ALL ORDER BY ALL", parameters=p).result_rows
        assert rolled == raw, table
    hourly = client.query("SELECT hour, uniqExactMerge(hardware) FROM usage_hourly WHERE license_id = {l:String} "
                          "GROUP BY ALL ORDER BY ALL", parameters=p).result_rows
    assert hourly == client.query("SELECT toStartOfHour(event_time) AS hour, uniqExact(toString(hardware_id)) "
                                  "FROM usage_events WHERE license_id = {l:String} GROUP BY ALL ORDER BY ALL",
                                  parameters=p).result_rows
    rolled = client.query("SELECT month, metric, sum(events), sum(quantity), sum(cost), uniqExactMerge(hardware) "
                          "FROM usage_monthly WHERE license_id = {l:String} GROUP BY ALL ORDER BY ALL",
                          parameters=p).result_rows
    raw = client.query("SELECT toStartOfMonth(event_time), metric, count(), sum(quantity), "
                       "sum(ifNull(cost, toDecimal128(0, 18))), uniqExact(toString(hardware_id)) FROM usage_events "
                       "WHERE license_id = {l:String} GROUP BY ALL ORDER BY ALL", parameters=p).result_rows
    assert rolled == raw and rolled
    narrow = client.query("SELECT month, metric, sum(events), sum(quantity), sum(cost) FROM usage_license_monthly "
                          "WHERE license_id = {l:String} GROUP BY ALL ORDER BY ALL", parameters=p).result_rows
    assert narrow == [r[:5] for r in raw]
    # usage_spend has no license key: the test's model is its own, so its rows are this license's.
    model = client.query("SELECT any(model) FROM usage_events WHERE license_id = {l:String}", parameters=p).result_rows[0][0]
    spend = client.query("SELECT day, team, source, sum(events), sum(unpriced), sum(quantity), sum(cost) FROM usage_spend "
                         "WHERE model = {m:String} GROUP BY ALL ORDER BY ALL", parameters={"m": model}).result_rows
    raw = client.query("SELECT toDate(event_time), team, source, count(), countIf(unit_price IS NULL), sum(quantity), "
                       "sum(ifNull(cost, toDecimal128(0, 18))) FROM usage_events WHERE model = {m:String} "
                       "GROUP BY ALL ORDER BY ALL", parameters={"m": model}).result_rows
    assert spend == raw and spend

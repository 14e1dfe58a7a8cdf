"""Prices across providers: a provider's own row wins over an any-provider row; list prices of contained
metrics (cached, cache creation, reasoning tokens) become exact adjustments; older catalogs keep their meaning."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from importlib import resources
from pathlib import Path

import pytest

from meterstream.sinks.pricing.catalog import CatalogError, load_catalog, parse_catalog
from tests.sinks.conftest import batch, tagged, write

pytestmark = pytest.mark.integration

HEADER = "provider,model,version_pattern,metric,unit_price,currency,effective_from,effective_to,tier_from,price_basis\n"
SAMPLE = Path(str(resources.files("meterstream.sinks.pricing").joinpath("provider_list_prices.csv")))


def _file(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "prices.csv"
    p.write_text(text)
    return p


def test_sample_catalog_loads_and_derives_adjustments() -> None:
    rows = {(r["provider"], r["model"], r["metric"]): r for r in parse_catalog(SAMPLE)}
    cached = rows[("openai", "gpt-4o", "cached_input_tokens")]
    assert (cached["list_price"], cached["unit_price"]) == (Decimal("0.00000125"), Decimal("-0.00000125"))
    write_row = rows[("anthropic", "claude-sonnet-4-5", "cache_creation_input_tokens")]
    assert write_row["unit_price"] == Decimal("0.00000075")  # 3.75 - 3 per million: the write surcharge
    assert rows[("anthropic", "claude-sonnet-4-5", "reasoning_tokens")]["unit_price"] == 0
    assert {r["price_basis"] for r in rows.values()} == {"list"}
    assert SAMPLE.read_text().startswith("# Sample catalog") and "as known to the authors" in SAMPLE.read_text()


def test_list_price_of_a_contained_metric_needs_its_container(tmp_path: Path) -> None:
    text = HEADER + "openai,m,*,cached_input_tokens,0.000001,USD,2026-01-01,,0,list\n"
    with pytest.raises(CatalogError, match="line 2: a list price of cached_input_tokens needs the list price of "
                                           "input_tokens"):
        parse_catalog(_file(tmp_path, text))
    with pytest.raises(CatalogError, match="line 2: price_basis must be one of"):
        parse_catalog(_file(tmp_path, HEADER + "openai,m,*,input_tokens,1,USD,2026-01-01,,0,retail\n"))
    with pytest.raises(CatalogError, match="graduated tiers are per model across providers"):
        parse_catalog(_file(tmp_path, HEADER + "openai,m,*,input_tokens,1,USD,2026-01-01,,100,list\n"))


def test_provider_rows_win_and_any_provider_rows_still_price(clickhouse, tag, tmp_path: Path) -> None:
    model, lic = f"m-{tag}", f"lic-{tag}"
    load_catalog(clickhouse, _file(tmp_path, "# comment lines are skipped\n" + HEADER + "".join([
        f",{model},*,input_tokens,0.000001,USD,2026-01-01,,0,\n",            # any provider (an old-style row)
        f",{model},*,cached_input_tokens,-0.0000005,USD,2026-01-01,,0,\n",   # an adjustment, as before
        f"azure.ai.openai,{model},*,input_tokens,0.000002,USD,2026-01-01,,0,list\n",
        f"azure.ai.openai,{model},*,cached_input_tokens,0.0000005,USD,2026-01-01,,0,list\n",
    ])))
    when = datetime(2026, 3, 1)
    write(clickhouse,
          tagged(batch(lic, 1, when=when, model=model, quantity=1000_000_000), provider="azure.ai.openai"),
          tagged(batch(lic, 1, when=when, model=model, metric="cached_input_tokens", quantity=800_000_000),
                 provider="azure.ai.openai"),
          tagged(batch(lic, 1, when=when, model=model, quantity=1000_000_000), provider="openai"),
          tagged(batch(lic, 1, when=when, model=model, metric="cached_input_tokens", quantity=800_000_000),
                 provider="openai"),
          batch(lic, 1, when=when, model=model, quantity=1000_000_000))  # a v1 event: provider ''
    rows = clickhouse.query("SELECT provider, sum(cost) FROM usage_events WHERE license_id = {l:String} "
                            "GROUP BY provider ORDER BY provider", parameters={"l": lic}).result_rows
    # azure: 1000 x 0.000002 + 800 x (0.0000005 - 0.000002); others: the any-provider rows.
    assert [tuple(r) for r in rows] == [("", Decimal("0.001")), ("azure.ai.openai", Decimal("0.0008")),
                                        ("openai", Decimal("0.0006"))]

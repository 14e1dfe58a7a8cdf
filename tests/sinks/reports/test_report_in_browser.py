"""The report and the dashboard as a person sees them: headless Chromium, on known data.

Every chart must have drawn its series, the page must log no console error,
and the numbers in the tables must be the SQL answers (and the hand-computed
ones for the questions people ask first).
"""

from __future__ import annotations

import asyncio
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator

import pytest

from meterstream.sinks.reports import answers, pages
from meterstream.sinks.reports.period import period
from meterstream.sinks.reports.report import write_report

pytestmark = [pytest.mark.integration, pytest.mark.slow]
D = Decimal
FEB = period("2024-02")


def _open(browser: Any, url: str) -> tuple[Any, list[str]]:
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    response = page.goto(url)
    assert response is None or response.ok, url
    return page, errors


def _charts_drawn(page: Any, expected: dict[str, int]) -> None:
    """Each chart is a visible, non-empty SVG with its series (at least ``expected[name]`` drawn elements)."""
    names = page.eval_on_selector_all("figure[data-chart]", "fs => fs.map(f => f.dataset.chart)")
    assert set(names) == set(expected), names
    for name, at_least in expected.items():
        box = page.eval_on_selector(f'figure[data-chart="{name}"] svg', "s => s.getBoundingClientRect().toJSON()")
        assert box["width"] > 300 and box["height"] > 150, name
        drawn = page.locator(f'figure[data-chart="{name}"] [id^="series-{name}-"]').count()
        assert drawn >= at_least, f"{name}: {drawn} series elements, expected at least {at_least}"


def _table(page: Any, view: str) -> list[dict[str, str]]:
    return page.eval_on_selector_all(
        f'table[data-view="{view}"] tbody tr',
        "rs => rs.map(r => Object.fromEntries([...r.cells].map(c => [c.dataset.column, c.dataset.value])))")


def _same_as_sql(page: Any, built: list[pages.Page]) -> None:
    """Every table on the page holds exactly the rows its query answered."""
    from meterstream.sinks.reports.html import exact

    for p in built:
        for v in p.views:
            want = [{c: exact(x) for c, x in zip(v.table.columns, row)} for row in v.table.rows]
            assert _table(page, v.key) == want, v.key


EXPECTED_CHARTS = {"spend-trend": 1, "spend-by-team": 2, "spend-by-model": 2, "budget-variance": 4, "forecast": 2,
                   "volume": 2, "latency": 6, "errors": 2, "alerts": 2, "webhooks": 3, "anomalies": 1,
                   "unapproved": 2, "quota": 2}


def test_report_file_shows_every_chart_and_the_sql_answers(clickhouse, feb, browser, tmp_path: Path) -> None:
    path = write_report(clickhouse, FEB, tmp_path, "test store", png=True)
    text = path.read_text()
    assert "<script" not in text and "http://" not in text.replace('xmlns="http://', "").replace(
        'xmlns:xlink="http://', "").replace("http://www.w3.org", "").replace("http://purl.org", "").replace(
        "http://creativecommons.org", "").replace("http://matplotlib.org", "")  # nothing fetched
    assert {p.stem for p in (tmp_path / "charts").glob("*.svg")} == set(EXPECTED_CHARTS)
    assert {p.stem for p in (tmp_path / "charts").glob("*.png")} == set(EXPECTED_CHARTS)

    page, errors = _open(browser, path.as_uri())
    _charts_drawn(page, EXPECTED_CHARTS)
    built = pages.build(answers.collect(clickhouse, FEB), FEB)
    _same_as_sql(page, built)
    assert not errors, errors

    ta, tb, l1, l2, l3 = feb["ta"], feb["tb"], feb["l1"], feb["l2"], feb["l3"]
    spend = {r["team"]: D(r["spend"]) for r in _table(page, "spend-by-team")}
    assert spend == {ta: D("1.5"), tb: D("2.002")}
    variance = {r["team"]: (D(r["variance"]), r["pct_of_budget"]) for r in _table(page, "budget-variance")}
    assert variance == {ta: (D("0.5"), "150.0"), tb: (D("-2.998"), "40.04")}
    latency = {(r["app"], r["model"]): (r["p50_ms"], r["p99_ms"]) for r in _table(page, "latency")}
    assert latency[("chat", feb["ma"])] == ("1.0", "3.0")
    errors_rate = {(r["app"], r["model"]): D(r["error_rate"]) for r in _table(page, "errors")}
    assert errors_rate[("chat", feb["ma"])] == D("0.333333")
    quota = {r["license_id"]: D(r["pct_of_quota"]) for r in _table(page, "quota")}
    assert quota == {l1: D("75"), l2: D("80")}
    unapproved = {(r["license_id"], r["no_license_snapshot"]): int(r["events"]) for r in _table(page, "unapproved")}
    assert unapproved == {(l2, "0"): 4, (l3, "1"): 2}
    hooks = _table(page, "webhooks")
    assert [(h["attempts"], h["delivered"], h["retried"]) for h in hooks] == [("2", "1", "1")]
    assert [a["kind"] for a in _table(page, "anomalies")] == ["spend_spike"]
    kpis = dict(page.eval_on_selector_all(".kpi", "ks => ks.map(k => [k.dataset.kpi, k.dataset.value])"))
    assert (D(kpis["Spend (USD)"]), kpis["Active licenses"], kpis["Alerts"]) == (D("3.502"), "3", "2")
    forecast = answers.run(clickhouse, "forecast", FEB).dicts()[0]  # a past month: the forecast is what was spent
    assert (forecast["to_date"], forecast["forecast"], forecast["days_elapsed"]) == (D("3.502"), D("3.502"), 29)
    page.close()


@pytest.fixture(scope="module")
def dashboard(clickhouse, clickhouse_url: str) -> Iterator[str]:
    """The sink's query endpoint on the session store, and a dashboard reading through it."""
    from aiohttp import web

    from meterstream.sinks.query_endpoint.service import QueryEndpoint
    from meterstream.sinks.query_endpoint.settings import QueryEndpointSettings
    from meterstream.sinks.reports.dashboard import build_app
    from meterstream.sinks.reports.settings import ReportSettings

    endpoint = QueryEndpoint(QueryEndpointSettings(query_port=0), clickhouse_url)
    endpoint.start()
    loop = asyncio.new_event_loop()  # in its own thread: Playwright's sync API runs a loop in this one
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    runner = web.AppRunner(build_app(ReportSettings(clickhouse_url=clickhouse_url, dashboard_port=0)))

    async def start() -> int:
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        return int(runner.addresses[0][1])

    port = asyncio.run_coroutine_threadsafe(start(), loop).result(30)
    yield f"http://127.0.0.1:{port}/"
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    endpoint.stop()


def test_dashboard_filters_by_team_through_the_endpoint(clickhouse, feb, browser, dashboard: str) -> None:
    page, errors = _open(browser, f"{dashboard}?from=2024-02-01&to_inclusive=2024-02-29")
    assert "the running sink" not in page.content()  # served, not the 'start the sink' page
    _charts_drawn(page, EXPECTED_CHARTS)
    page.select_option('select[name="team"]', feb["ta"])
    with page.expect_navigation():
        page.click('form.filters button[type="submit"]')
    assert f"team={feb['ta']}" in page.url
    only_a = period(None, "2024-02-01", "2024-03-01", team=feb["ta"])
    _same_as_sql(page, pages.build(answers.collect(clickhouse, only_a), only_a))
    assert {r["team"] for r in _table(page, "spend-by-team")} == {feb["ta"]}
    assert [r["license_id"] for r in _table(page, "quota")] == [feb["l1"]]
    assert page.eval_on_selector('select[name="team"]', "s => s.value") == feb["ta"]
    assert not errors, errors
    page.close()

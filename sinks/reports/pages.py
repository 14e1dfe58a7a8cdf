"""What each page of the report shows: the question, the chart and the table that answer it.

Pages are built from the answers of ``answers.collect``; nothing here queries.
Money is never added across currencies: series and KPIs are per currency.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Callable, Iterable

from .answers import Table
from .charts import Chart
from .period import Filters, next_month


@dataclass
class View:
    """One question answered by a chart and/or a table (the table holds the exact numbers)."""

    key: str
    question: str
    table: Table
    chart: Chart | None = None


@dataclass
class Kpi:
    label: str
    value: Any
    previous: Any = None
    unit: str = ""


@dataclass
class Page:
    key: str
    title: str
    audience: str
    views: list[View] = field(default_factory=list)
    kpis: list[Kpi] = field(default_factory=list)


def _pivot(table: Table, x: str, series: Callable[[dict[str, Any]], str], value: str,
           categories: Iterable[Any] | None = None) -> tuple[list[str], dict[str, list[float | None]]]:
    """Rows -> categories on x and one value list per series (missing points None)."""
    rows = table.dicts()
    xs = sorted({r[x] for r in rows}) if categories is None else list(categories)
    out: dict[str, list[float | None]] = {}
    for r in rows:
        values = out.setdefault(series(r), [None] * len(xs))
        i = xs.index(r[x]) if r[x] in xs else None
        if i is not None:
            values[i] = (values[i] or 0.0) + float(r[value] or 0)
    return [str(c) for c in xs], out


def _select(table: Table, columns: list[str]) -> Table:
    idx = [table.columns.index(c) for c in columns]
    return Table(columns, [tuple(r[i] for i in idx) for r in table.rows])


def _total(table: Table, value: str, by: str = "currency") -> dict[str, Decimal]:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for r in table.dicts():
        totals[r[by]] += Decimal(r[value] or 0)
    return dict(totals)


def executive(a: dict[str, Table], f: Filters) -> Page:
    now, before = a["adoption"].dicts()[0], a["adoption_previous"].dicts()[0]
    spend, spend_before = _total(a["daily_spend"], "spend"), _total(a["daily_spend_previous"], "spend")
    kpis = [Kpi(f"Spend ({cur})", spend.get(cur, Decimal(0)), spend_before.get(cur, Decimal(0)), cur)
            for cur in sorted(set(spend) | set(spend_before))]
    kpis += [Kpi(label, now[key], before[key]) for label, key in (
        ("Active licenses", "licenses"), ("Teams", "teams"), ("Applications", "apps"), ("Models", "models"),
        ("Events", "events"))]
    over = sum(1 for r in a["budget_variance"].dicts() if r["budget"] and r["variance"] and r["variance"] > 0)
    kpis += [Kpi("Alerts", now["alerts"], before["alerts"]),
             Kpi("Unapproved or unknown events", sum(int(r["events"]) for r in a["unapproved_usage"].dicts())),
             Kpi("Team-months over budget", over)]
    days = [f.start + timedelta(days=i) for i in range((f.end - f.start).days)]
    trend = Table(["day", "period", "currency", "spend"],
                  [(d, "this", r["currency"], r["spend"]) for r in a["daily_spend"].dicts() for d in [r["day"]]] +
                  [(d + (f.start - f.previous().start), "previous", r["currency"], r["spend"])
                   for r in a["daily_spend_previous"].dicts() for d in [r["day"]]])
    cats, series = _pivot(trend, "day", lambda r: f"{r['period']} period ({r['currency']})", "spend", days)
    chart = Chart("spend-trend", "Daily spend, this period and the one before", "line", cats, series, "spend",
                  dashed={s for s in series if s.startswith("previous")})
    return Page("executive", "Executive summary", "executives", [
        View("spend-trend", "Is spend going up or down against the previous period?", trend, chart)], kpis)


def finance(a: dict[str, Table], f: Filters) -> Page:
    by_team = a["spend_by_month_team"]
    cats, series = _pivot(by_team, "month", lambda r: f"{r['team'] or '(none)'} ({r['currency']})", "spend")
    by_model = a["spend_by_model"]
    labelled = Table(["model", "currency", "spend"], [(f"{r['provider'] or '(unknown)'} / {r['model']}",
                                                       r["currency"], r["spend"]) for r in by_model.dicts()])
    mcats, mseries = _pivot(labelled, "model", lambda r: r["currency"], "spend",
                            list(dict.fromkeys(labelled.column("model"))))
    budget = a["budget_variance"]
    bcats = [f"{r['team']} {str(r['month'])[:7]}" for r in budget.dicts()]
    bseries: dict[str, list[float | None]] = {
        "spend": [float(v or 0) for v in budget.column("spend")],
        "budget": [float(v) if v is not None else None for v in budget.column("budget")]}
    return Page("finance", "Finance", "finance", [
        View("spend-by-team", "What did each team spend, month by month?", by_team,
             Chart("spend-by-team", "Spend by team and month", "stacked", cats, series, "spend")),
        View("spend-by-model", "Which providers and models does the money go to?", by_model,
             Chart("spend-by-model", "Spend by provider and model", "barh", mcats, mseries, "spend")),
        View("budget-variance", "Which teams are over or under budget?", budget,
             Chart("budget-variance", "Spend against budget per team and month", "bar", bcats, bseries, "spend")),
        _forecast(a, f)])


def _forecast(a: dict[str, Table], f: Filters) -> View:
    """Cumulative spend of the month the period ends in, and the run rate carried to the month's end."""
    fc = a["forecast"]
    month = (f.end - timedelta(days=1)).replace(day=1)
    days = [month + timedelta(days=i) for i in range((next_month(month) - month).days)]
    series: dict[str, list[float | None]] = {}
    for row in fc.dicts():
        cur, elapsed, rate = row["currency"], int(row["days_elapsed"]), float(row["daily_rate"])
        daily = {r["day"]: float(r["spend"]) for r in a["daily_spend"].dicts() if r["currency"] == cur}
        running, actual = 0.0, []
        for d in days[:elapsed]:
            running += daily.get(d, 0.0)
            actual.append(running)
        series[f"actual ({cur})"] = actual + [None] * (len(days) - elapsed)
        series[f"forecast ({cur})"] = [None] * (elapsed - 1) + [running + rate * i for i in range(len(days) - elapsed + 1)]
    chart = Chart("forecast", f"Month-end forecast, {str(month)[:7]}", "line", [str(d) for d in days], series,
                  "cumulative spend", dashed={s for s in series if s.startswith("forecast")})
    return View("forecast", "Where will this month's spend end at the current run rate?", fc, chart)


def engineering(a: dict[str, Table], f: Filters) -> Page:
    vol = a["volume_by_app"]
    days = [f.start + timedelta(days=i) for i in range((f.end - f.start).days)]
    vcats, vseries = _pivot(vol, "day", lambda r: r["app"] or "(none)", "events", days)
    lat = a["latency_errors"]
    lcats = [f"{r['app']} / {r['model']}" for r in lat.dicts()]
    lseries: dict[str, list[float | None]] = {p: [float(v) if v is not None else None for v in lat.column(f"{p}_ms")]
                                             for p in ("p50", "p95", "p99")}
    eseries: dict[str, list[float | None]] = {"error rate %": [float(v) * 100 for v in lat.column("error_rate")]}
    return Page("engineering", "Engineering", "engineering", [
        View("volume", "How many calls does each application make per day?", vol,
             Chart("volume", "Events per day by application", "line", vcats, vseries, "events")),
        View("latency", "How fast are the models, per application (p50, p95, p99)?",
             _select(lat, ["app", "model", "events", "p50_ms", "p95_ms", "p99_ms"]),
             Chart("latency", "Latency percentiles by application and model", "bar", lcats, lseries, "ms")),
        View("errors", "How often do calls fail, per application and model?",
             _select(lat, ["app", "model", "events", "errors", "error_rate"]),
             Chart("errors", "Error rate by application and model", "bar", lcats, eseries, "%"))])


def risk(a: dict[str, Table], f: Filters) -> Page:
    alerts = a["alerts_by_day"]
    days = [f.start + timedelta(days=i) for i in range((f.end - f.start).days)]
    acats, aseries = _pivot(alerts, "day", lambda r: r["kind"], "alerts", days)
    hooks = a["webhook_delivery"]
    hcats = [str(e) for e in hooks.column("endpoint_id")]
    hseries: dict[str, list[float | None]] = {k: [float(v) for v in hooks.column(k)]
                                             for k in ("delivered", "retried", "given_up")}
    anomalies = a["anomalies"]
    kinds = sorted(set(anomalies.column("kind")))
    nseries: dict[str, list[float | None]] = {"anomalies": [float(anomalies.column("kind").count(k)) for k in kinds]}
    unapproved = a["unapproved_usage"]
    ucats = [f"{r['license_id']} {r['model']} {r['model_version']}" for r in unapproved.dicts()]
    useries: dict[str, list[float | None]] = {"events": [float(v) for v in unapproved.column("events")]}
    return Page("risk", "Risk and compliance", "risk and compliance", [
        View("alerts", "Which alerts fired, and when?", alerts,
             Chart("alerts", "Alerts per day by kind", "stacked", acats, aseries, "alerts")),
        View("webhooks", "Did the alerts reach their webhook endpoints?", hooks,
             Chart("webhooks", "Webhook attempts by outcome per endpoint", "barh", hcats, hseries, "attempts")),
        View("anomalies", "What unusual behaviour was seen (spend spikes, sequence gaps)?", anomalies,
             Chart("anomalies", "Anomalies by kind", "bar", kinds, nseries, "alerts")),
        View("unapproved", "Which use was not granted by a license, or had no license at all?", unapproved,
             Chart("unapproved", "Unapproved or unknown usage", "barh", ucats, useries, "events"))])


def quota(a: dict[str, Table], f: Filters) -> Page:
    burn = a["quota_burndown"]
    month = (f.end - timedelta(days=1)).replace(day=1)
    days = [month + timedelta(days=i) for i in range((next_month(month) - month).days)]
    cats, series = _pivot(burn, "day", lambda r: f"{r['license_id']} {r['metric']}", "pct_of_quota", days)
    latest: dict[tuple[str, str], tuple[Any, ...]] = {}
    for row in burn.rows:
        latest[(row[0], row[1])] = row
    table = Table(burn.columns, sorted(latest.values(), key=lambda r: -float(r[5])))
    chart = Chart("quota", f"Quota used per license, {str(month)[:7]} (% of the monthly quota)", "line", cats,
                  series, "% of quota", reference=100.0, reference_label="quota")
    return Page("quota", "Quota burn-down", "customer success and license owners", [
        View("quota", "Which licenses will run out of quota, and when?", table, chart)])


def build(a: dict[str, Table], f: Filters) -> list[Page]:
    """Every page, executive summary first."""
    return [executive(a, f), finance(a, f), engineering(a, f), risk(a, f), quota(a, f)]


def charts(pages: list[Page]) -> list[Chart]:
    return [v.chart for p in pages for v in p.views if v.chart is not None]


__all__ = ["Page", "View", "Kpi", "build", "charts", "date"]

"""The HTML document of the report and the dashboard: one file, inline CSS and SVG, no script, nothing fetched.

Every number in a table cell carries its exact value in ``data-value`` (decimals
unrounded), shown rounded for reading; tests compare both with the SQL answers.
"""

from __future__ import annotations

import html
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from .charts import svg
from .pages import Kpi, Page, View
from .period import Filters

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d2433;background:#f6f7f9}
header{background:#1d2433;color:#fff;padding:16px 28px}header h1{margin:0;font-size:20px}
header p{margin:4px 0 0;color:#c5cad3}nav{padding:8px 28px;background:#fff;border-bottom:1px solid #dde1e7}
nav a{margin-right:18px;color:#2e6e9e;text-decoration:none;font-weight:600}
main{padding:8px 28px 40px;max-width:1280px}section.page{margin-top:24px}
section.page>h2{border-bottom:2px solid #1d2433;padding-bottom:4px}.audience{color:#5b6475;font-size:12px}
.view{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:12px 16px;margin:14px 0}
.view h3{margin:0 0 8px;font-size:15px}.view svg{max-width:100%;height:auto}
table{border-collapse:collapse;font-size:12.5px;margin-top:8px}th,td{padding:3px 10px;border-bottom:1px solid #eceef2}
th{text-align:left;background:#f0f2f5}td.num{text-align:right;font-variant-numeric:tabular-nums}
.kpis{display:flex;flex-wrap:wrap;gap:10px}.kpi{background:#fff;border:1px solid #dde1e7;border-radius:6px;
padding:10px 14px;min-width:150px}.kpi .label{color:#5b6475;font-size:12px}.kpi .value{font-size:20px;font-weight:700}
.kpi .trend{font-size:12px;color:#5b6475}.up{color:#b03a2e}.down{color:#2e7d32}
form.filters{display:flex;gap:10px;flex-wrap:wrap;align-items:end;padding:10px 28px;background:#fff;
border-bottom:1px solid #dde1e7}form.filters label{display:flex;flex-direction:column;font-size:12px;color:#5b6475}
.empty{color:#5b6475;font-style:italic}
"""


def exact(value: Any) -> str:
    """The exact value, as ``data-value`` holds it."""
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value == value.to_integral() else format(value, "f").rstrip("0")
    if isinstance(value, (datetime, date)):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    return "" if value is None else str(value)


def shown(value: Any) -> str:
    """How a value reads: money and rates to 2 decimals, counts with thousands separators."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, (Decimal, float)):
        return f"{value:,.2f}" if value != int(value) or isinstance(value, float) else f"{int(value):,}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def _numeric(value: Any) -> bool:
    return isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)


def table(view: View) -> str:
    t = view.table
    if not t.rows:
        return '<p class="empty">Nothing in this period.</p>'
    head = "".join(f"<th>{html.escape(c)}</th>" for c in t.columns)
    body = "".join(
        "<tr>" + "".join(f'<td class="{"num" if _numeric(v) else "text"}" data-column="{html.escape(c)}" '
                         f'data-value="{html.escape(exact(v))}">{html.escape(shown(v))}</td>'
                         for c, v in zip(t.columns, row)) + "</tr>" for row in t.rows)
    return f'<table data-view="{view.key}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _kpi(k: Kpi) -> str:
    trend = ""
    if k.previous is not None and _numeric(k.value):
        delta = Decimal(str(k.value)) - Decimal(str(k.previous))
        pct = f" ({delta / Decimal(str(k.previous)) * 100:+.0f}%)" if k.previous else ""
        css = "up" if delta > 0 else "down" if delta < 0 else ""
        trend = f'<div class="trend">previous period {html.escape(shown(k.previous))} <span class="{css}">{pct}</span></div>'
    return (f'<div class="kpi" data-kpi="{html.escape(k.label)}" data-value="{html.escape(exact(k.value))}">'
            f'<div class="label">{html.escape(k.label)}</div><div class="value">{html.escape(shown(k.value))}</div>'
            f"{trend}</div>")


def page_html(page: Page) -> str:
    kpis = f'<div class="kpis">{"".join(_kpi(k) for k in page.kpis)}</div>' if page.kpis else ""
    views = "".join(
        f'<div class="view" id="view-{v.key}"><h3>{html.escape(v.question)}</h3>'
        f'{f"<figure data-chart={chr(34)}{v.chart.name}{chr(34)}>{svg(v.chart)}</figure>" if v.chart else ""}'
        f"{table(v)}</div>" for v in page.views)
    return (f'<section class="page" id="{page.key}"><h2>{html.escape(page.title)}</h2>'
            f'<div class="audience">for {html.escape(page.audience)}</div>{kpis}{views}</section>')


def document(pages: list[Page], filters: Filters, source: str, generated: datetime, form: str = "") -> str:
    """The whole page; ``form`` is the dashboard's filter form (the report has none)."""
    nav = "".join(f'<a href="#{p.key}">{html.escape(p.title)}</a>' for p in pages)
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">'
            f"<title>meterstream: {html.escape(filters.label())}</title><style>{CSS}</style></head><body>"
            f"<header><h1>AI usage: {html.escape(filters.label())}</h1><p>generated "
            f"{generated:%Y-%m-%d %H:%M} UTC from {html.escape(source)}</p></header>{form}<nav>{nav}</nav>"
            f'<main>{"".join(page_html(p) for p in pages)}</main></body></html>')

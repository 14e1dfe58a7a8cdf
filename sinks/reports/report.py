"""``meterstream report``: one self-contained HTML file per period, and each chart as its own file for e-mail."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import answers, charts, html, pages
from .period import Filters


def write_report(client: Any, filters: Filters, out_dir: Path, source: str, png: bool = False) -> Path:
    """Query, draw and write ``report-<period>.html`` and ``charts/<chart>.svg`` (and ``.png``); return the HTML path."""
    built = pages.build(answers.collect(client, filters), filters)
    out_dir.mkdir(parents=True, exist_ok=True)
    chart_dir = out_dir / "charts"
    chart_dir.mkdir(exist_ok=True)
    for chart in pages.charts(built):
        (chart_dir / f"{chart.name}.svg").write_bytes(charts.render(chart, "svg"))
        if png:
            (chart_dir / f"{chart.name}.png").write_bytes(charts.render(chart, "png"))
    path = out_dir / f"report-{filters.slug()}.html"
    path.write_text(html.document(built, filters, source, datetime.now(timezone.utc)))
    return path

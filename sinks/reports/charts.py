"""Charts drawn server-side as SVG (and PNG for e-mail) with matplotlib: no JavaScript, nothing fetched.

Each series is an SVG group with the id ``series-<chart>-<series>`` (bars: one
per bar, suffixed ``-<i>``), so a test or a reader can find what was drawn. Text
stays text (``svg.fonttype = none``): the browser renders it, and numbers in
a chart can be searched. matplotlib is not thread-safe, so drawing holds a lock.
"""

from __future__ import annotations

import io
import re
import threading
from dataclasses import dataclass, field
from typing import Sequence

import matplotlib
from matplotlib.figure import Figure

matplotlib.use("Agg")
matplotlib.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "meterstream", "font.size": 9,
                            "axes.spines.top": False, "axes.spines.right": False})
_LOCK = threading.Lock()
COLORS = ["#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#B279A2", "#FF9DA6", "#9D755D", "#BAB0AC",
          "#EECA3B", "#2E6E9E", "#88D27A"]


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


@dataclass
class Chart:
    """What to draw: categories on x (or y for horizontal bars) and one value list per series."""

    name: str
    title: str
    kind: str  # "bar", "stacked", "barh", "line"
    categories: Sequence[str]
    series: dict[str, list[float | None]] = field(default_factory=dict)
    unit: str = ""
    reference: float | None = None  # a horizontal line: the quota, the budget
    reference_label: str = ""
    dashed: set[str] = field(default_factory=set)  # line series drawn dashed (forecasts)


def render(chart: Chart, fmt: str = "svg") -> bytes:
    """The chart as SVG or PNG bytes."""
    with _LOCK:
        fig = Figure(figsize=(7.2, 3.4), dpi=110, layout="constrained")
        ax = fig.add_subplot()
        ax.set_title(chart.title, loc="left", fontsize=10, fontweight="bold")
        if not chart.categories or not chart.series:
            ax.text(0.5, 0.5, "no data in this period", ha="center", va="center", transform=ax.transAxes, gid="no-data")
            ax.set_axis_off()
        elif chart.kind == "line":
            _lines(ax, chart)
        else:
            _bars(ax, chart)
        if chart.unit and chart.categories and chart.series:
            (ax.set_xlabel if chart.kind == "barh" else ax.set_ylabel)(chart.unit)
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, metadata={"Date": None} if fmt == "svg" else None)
        return buf.getvalue()


def svg(chart: Chart) -> str:
    """Inline SVG (the XML prologue and DOCTYPE removed) for an HTML page."""
    text = render(chart).decode()
    return text[text.index("<svg"):]


def _values(values: list[float | None]) -> list[float]:
    return [0.0 if v is None else float(v) for v in values]


def _bars(ax: object, chart: Chart) -> None:
    n, k = len(chart.categories), len(chart.series)
    positions = list(range(n))
    bottom = [0.0] * n
    width = 0.8 if chart.kind == "stacked" else 0.8 / k
    for j, (name, values) in enumerate(chart.series.items()):
        vals, color = _values(values), COLORS[j % len(COLORS)]
        if chart.kind == "stacked":
            bars = ax.bar(positions, vals, width, bottom=bottom, label=name, color=color)  # type: ignore[attr-defined]
            bottom = [b + v for b, v in zip(bottom, vals)]
        else:
            offset = [p - 0.4 + width * (j + 0.5) for p in positions]
            draw = ax.barh if chart.kind == "barh" else ax.bar  # type: ignore[attr-defined]
            bars = draw(offset, vals, width, label=name, color=color)
        for i, patch in enumerate(bars.patches):
            patch.set_gid(f"series-{chart.name}-{slug(name)}-{i}")
    ticks = ax.set_yticks if chart.kind == "barh" else ax.set_xticks  # type: ignore[attr-defined]
    ticks(positions, [str(c) for c in chart.categories], rotation=0 if chart.kind == "barh" or n <= 6 else 30,
          ha="right" if chart.kind != "barh" and n > 6 else "center" if chart.kind != "barh" else "right")
    if chart.kind == "barh":
        ax.invert_yaxis()  # type: ignore[attr-defined]
    _reference(ax, chart)
    if k > 1 or chart.reference is not None:
        ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))  # type: ignore[attr-defined]


def _lines(ax: object, chart: Chart) -> None:
    x = list(range(len(chart.categories)))
    for j, (name, values) in enumerate(chart.series.items()):
        points = [(i, float(v)) for i, v in zip(x, values) if v is not None]
        line, = ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", markersize=2.5,  # type: ignore[attr-defined]
                        linestyle="--" if name in chart.dashed else "-", color=COLORS[j % len(COLORS)], label=name)
        line.set_gid(f"series-{chart.name}-{slug(name)}")
    step = max(1, len(x) // 10)
    ax.set_xticks(x[::step], [str(c) for c in chart.categories][::step], rotation=30, ha="right")  # type: ignore[attr-defined]
    _reference(ax, chart)
    ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))  # type: ignore[attr-defined]


def _reference(ax: object, chart: Chart) -> None:
    if chart.reference is not None:
        draw = ax.axvline if chart.kind == "barh" else ax.axhline  # type: ignore[attr-defined]
        line = draw(chart.reference, color="#444", linestyle=":", linewidth=1, label=chart.reference_label)
        line.set_gid(f"reference-{chart.name}")

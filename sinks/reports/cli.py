"""``meterstream report`` and ``meterstream dashboard``."""

from __future__ import annotations

import argparse
from typing import Any


def _period_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--month", help="a whole month, YYYY-MM (default: this month to date)")
    p.add_argument("--from", dest="start", help="first day, YYYY-MM-DD")
    p.add_argument("--to", dest="end", help="day after the last, YYYY-MM-DD (exclusive)")
    p.add_argument("--team", default="", help="only this team")
    p.add_argument("--license", default="", help="only this license")
    p.add_argument("--model", default="", help="only this model")


def register(sub: Any) -> None:
    p = sub.add_parser("report", help="write the HTML report (finance, engineering, risk, executive, quota) "
                                      "and its charts for a period")
    _period_args(p)
    p.add_argument("--out", help="folder to write into (default: <report_dir>/<period>)")
    p.add_argument("--png", action="store_true", help="also write each chart as PNG (for e-mail)")
    p.set_defaults(handler=_report)

    p = sub.add_parser("dashboard", help="serve the report's pages live with filters (127.0.0.1:8050 by default)")
    p.set_defaults(handler=_dashboard)


def _report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from meterstream.sinks.query_endpoint.client import read_client

    from .period import period
    from .report import write_report
    from .settings import ReportSettings

    settings = ReportSettings()
    filters = period(args.month, args.start, args.end, team=args.team, license=args.license, model=args.model)
    client, source = read_client(settings.clickhouse_url)
    out = Path(args.out) if args.out else settings.report_dir / filters.slug()
    path = write_report(client, filters, out, source, png=args.png)
    print(f"report for {filters.label()}: {path}")
    print(f"charts: {out / 'charts'}")
    return 0


def _dashboard(args: argparse.Namespace) -> int:
    from .dashboard import serve
    from .settings import ReportSettings

    serve(ReportSettings())
    return 0

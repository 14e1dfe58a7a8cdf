"""Sink subcommands: ``meterstream sink``, ``sql``, ``prices load|reprice``, ``budgets load``."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .errors import SinkError


def register(sub: Any) -> None:
    p = sub.add_parser("sink", help="run the ClickHouse sink (usage, alerts, licenses, webhook deliveries)")
    p.set_defaults(handler=_sink)

    p = sub.add_parser("sql", help="run SQL or a query-pack entry against the configured ClickHouse")
    p.add_argument("statement", nargs="?", help="SQL text (or use --query)")
    p.add_argument("--query", "-q", help="name of a query-pack entry (see --list)")
    p.add_argument("--param", "-p", action="append", default=[], metavar="NAME=VALUE")
    p.add_argument("--format", "-f", choices=["table", "csv", "json"], default="table")
    p.add_argument("--list", action="store_true", help="list the query pack and each entry's parameters")
    p.add_argument("--url", help="ClickHouse URL (default: the clickhouse_url setting)")
    p.set_defaults(handler=_sql)

    p = sub.add_parser("prices", help="load a price catalog or reprice a past range")
    p.add_argument("action", choices=["load", "reprice"])
    p.add_argument("file", nargs="?", type=Path, help="catalog CSV (load)")
    p.add_argument("--from", dest="start", help="reprice from this date/time (UTC, inclusive day)")
    p.add_argument("--to", dest="end", help="reprice up to this date/time (UTC, exclusive; whole days)")
    p.add_argument("--no-publish", action="store_true",
                   help="load: do not publish the catalog to the prices topic (the processors then judge no money)")
    p.set_defaults(handler=_prices)

    p = sub.add_parser("budgets", help="load budgets from CSV (team,month,amount,currency or "
                                       "scope_kind,scope,month,amount,currency[,thresholds])")
    p.add_argument("action", choices=["load"])
    p.add_argument("file", type=Path)
    p.add_argument("--no-publish", action="store_true", help="do not publish them to the budgets topic")
    p.set_defaults(handler=_budgets)


def _sink(args: argparse.Namespace) -> int:
    import signal
    import threading

    from .runner import run_sinks
    from .settings import SinkSettings

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    run_sinks(SinkSettings(), stop)
    return 0


def _client(url: str | None = None) -> Any:
    from .clickhouse import connect
    from .errors import SinkError
    from .migrations import migrate
    from .settings import ClickHouseSettings

    url = url or ClickHouseSettings().clickhouse_url
    try:
        client = connect(url)
        migrate(client)
    except Exception as exc:
        if url.startswith("chdb://") and "lock" in str(exc).lower():
            raise SinkError(f"the embedded ClickHouse at {url[7:]} is in use by another process (is "
                            "`meterstream sink` running on it? it serves reads (sql, report, dashboard) on its "
                            "query endpoint; for writes stop it first, or use a ClickHouse server URL)") from exc
        raise
    return client


def _read_client(url: str | None) -> Any:
    """Reads go through the running sink's query endpoint when it holds the embedded store."""
    from .query_endpoint.client import read_client
    from .settings import ClickHouseSettings

    return read_client(url or ClickHouseSettings().clickhouse_url)[0]


def _sql(args: argparse.Namespace) -> int:
    from . import query_pack
    from .errors import SinkError

    if args.list:
        for name in query_pack.names():
            params = query_pack.parameters(query_pack.text(name))
            print(f"{name}: " + ", ".join(f"{k} ({t})" for k, t in params.items()))
        return 0
    if bool(args.statement) == bool(args.query):
        raise SinkError("give either a SQL statement or --query NAME")
    sql = query_pack.text(args.query) if args.query else args.statement
    bad = [p for p in args.param if "=" not in p]
    if bad:
        raise SinkError(f"--param needs NAME=VALUE, got {bad[0]!r}")
    params = dict(p.split("=", 1) for p in args.param)
    columns, rows = query_pack.run(_read_client(args.url), sql, params)
    sys.stdout.write(query_pack.render(columns, rows, args.format))
    return 0


def _time(value: str) -> datetime:
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise SinkError(f"not an ISO date/time: {value!r} (e.g. 2026-11-01 or 2026-11-01T00:00:00Z)") from None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def _prices(args: argparse.Namespace) -> int:
    from .errors import SinkError
    from .pricing.catalog import load_catalog
    from .pricing.reprice import reprice

    if args.action == "load":
        if args.file is None:
            raise SinkError("prices load needs a catalog file")
        version = load_catalog(_client(), args.file)
        print(f"catalog version {version} loaded and in force")
        if not args.no_publish:
            from meterstream.config import KafkaSettings, Topics

            from .pricing.catalog import parse_catalog
            from .pricing.publish import publish_catalog
            publish_catalog(KafkaSettings(), Topics(), version, parse_catalog(args.file))
            print("published to the prices topic (the processors judge spend with it)")
        return 0
    if not (args.start and args.end):
        raise SinkError("prices reprice needs --from and --to")
    start, end = _time(args.start), _time(args.end)
    if end <= start:
        raise SinkError(f"--to ({args.end}) must be after --from ({args.start})")
    from meterstream.progress import spinner

    with spinner(f"repricing {start:%Y-%m-%d}..{end:%Y-%m-%d} and rebuilding the rollups of its months"):
        n = reprice(_client(), start, end)
    print(f"repriced {n} events; rollups rebuilt")
    return 0


def _budgets(args: argparse.Namespace) -> int:
    from .budgets import load_budgets, parse_budgets, publish_budgets

    print(f"loaded {load_budgets(_client(), args.file)} budgets")
    if not args.no_publish:
        from meterstream.config import KafkaSettings, Topics

        publish_budgets(KafkaSettings(), Topics(), parse_budgets(args.file))
        print("published to the budgets topic (the processors alert at their thresholds)")
    return 0

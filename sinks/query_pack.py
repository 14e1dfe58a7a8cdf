"""The SQL query pack (``queries/*.sql``) and running any query against the configured ClickHouse.

Queries use ClickHouse's typed parameters (``{month:Date}``); values are passed
as strings and converted by ClickHouse. The first comment lines of a file say
what it answers and which parameters it takes.
"""

from __future__ import annotations

import csv
import io
import json
import re
from decimal import Decimal
from importlib import resources
from typing import Any

from clickhouse_connect.driver.client import Client

from .errors import SinkError

_PARAM = re.compile(r"\{(\w+):([^}]+)\}")


def names() -> list[str]:
    """Entries of the query pack."""
    return sorted(e.name[:-4] for e in resources.files("meterstream.sinks").joinpath("queries").iterdir()
                  if e.name.endswith(".sql"))


def text(name: str) -> str:
    if name not in names():
        raise SinkError(f"no query {name!r} in the pack (have: {', '.join(names())})")
    return resources.files("meterstream.sinks").joinpath("queries", f"{name}.sql").read_text()


def parameters(sql: str) -> dict[str, str]:
    """Parameter name -> ClickHouse type, as written in the query."""
    return {m.group(1): m.group(2) for m in _PARAM.finditer(sql)}


def run(client: Client, sql: str, params: dict[str, str]) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run one statement; raise SinkError naming any parameter the query needs but did not get."""
    missing = sorted(set(parameters(sql)) - set(params))
    if missing:
        raise SinkError(f"missing parameter(s) {', '.join(missing)}: pass --param NAME=VALUE")
    sql = sql.strip().rstrip(";")
    result = client.query(sql, parameters=params or None)
    return list(result.column_names), [tuple(r) for r in result.result_rows]


def render(columns: list[str], rows: list[tuple[Any, ...]], fmt: str) -> str:
    """Rows as an aligned table, CSV, or JSON lines (one object per row)."""
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(columns)
        w.writerows([[_plain(v) for v in r] for r in rows])
        return buf.getvalue()
    if fmt == "json":
        return "".join(json.dumps(dict(zip(columns, map(_plain, r)))) + "\n" for r in rows)
    cells = [columns] + [[str(_plain(v)) for v in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    numeric = [bool(rows) and all(isinstance(r[i], (int, float, Decimal)) or r[i] is None for r in rows)
               for i in range(len(columns))]  # numbers right-aligned, so digits line up
    lines = ["  ".join(c.rjust(w) if num else c.ljust(w) for c, w, num in zip(row, widths, numeric)).rstrip()
             for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines) + f"\n({len(rows)} rows)\n"


def _plain(v: Any) -> Any:
    """JSON/CSV-friendly value: decimals and times as exact strings."""
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, Decimal):
        return format(v, "f")
    return str(v)

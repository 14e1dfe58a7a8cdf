"""Run the report's SQL (``queries/*.sql``) for a period and filters; every page reads from here."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Any

from meterstream.sinks import query_pack

from .period import Filters


@dataclass
class Table:
    """One query's answer: column names and rows as the client returned them (decimals exact)."""

    columns: list[str]
    rows: list[tuple[Any, ...]]

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, r)) for r in self.rows]

    def column(self, name: str) -> list[Any]:
        i = self.columns.index(name)
        return [r[i] for r in self.rows]


def names() -> list[str]:
    return sorted(e.name[:-4] for e in resources.files(__package__).joinpath("queries").iterdir()
                  if e.name.endswith(".sql"))


def text(name: str) -> str:
    return resources.files(__package__).joinpath("queries", f"{name}.sql").read_text()


def run(client: Any, name: str, filters: Filters) -> Table:
    """One report query, given only the parameters it names."""
    sql = text(name)
    wanted = query_pack.parameters(sql)
    params = {k: v for k, v in filters.params().items() if k in wanted}
    columns, rows = query_pack.run(client, sql, params)
    if not columns:  # an empty Native result carries no header: name the columns from a typed probe
        columns = list(client.query(f"SELECT * FROM ({sql.strip().rstrip(';')}) LIMIT 0",
                                    parameters=params or None).column_names)
    return Table(columns, rows)


def collect(client: Any, filters: Filters) -> dict[str, Table]:
    """Every report query for ``filters``, and ``adoption`` of the previous period as ``adoption_previous``."""
    out = {name: run(client, name, filters) for name in names()}
    out["adoption_previous"] = run(client, "adoption", filters.previous())
    out["daily_spend_previous"] = run(client, "daily_spend", filters.previous())
    return out


def choices(client: Any, filters: Filters) -> dict[str, list[str]]:
    """Teams, licenses and models with usage in the period (the dashboard's filter lists)."""
    sql = ("SELECT groupUniqArray(team), groupUniqArray(license_id), groupUniqArray(model) FROM usage_daily "
           "WHERE hour >= {start:DateTime} AND hour < {end:DateTime}")
    p = filters.params()
    row = client.query(sql, parameters={"start": p["start"], "end": p["end"]}).result_rows[0]
    return {"team": sorted(row[0]), "license": sorted(row[1]), "model": sorted(row[2])}

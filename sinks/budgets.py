"""Budgets from a CSV file: ``team,month,amount,currency`` or ``scope_kind,scope,month,amount,currency[,thresholds]``.

``scope_kind`` is team, use_case or model; ``month`` YYYY-MM; ``thresholds``
percentages separated by ``;`` (default 80;100). Loading writes ClickHouse
(``scope_budgets``, and ``budgets`` for team rows, which ``budget_variance``
reads) and, from the CLI, publishes the budgets to the compacted budgets topic
so the processors can alert on spend in money (``publish_budgets``).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

from clickhouse_connect.driver.client import Client

from meterstream.clock import now_us
from meterstream.config import KafkaSettings, Topics
from meterstream.kafka.publish import publish_records
from meterstream.schemas import RecordCodec

from .errors import SinkError

SCOPE_KINDS = ("team", "use_case", "model")


@dataclass(frozen=True)
class BudgetRow:
    scope_kind: str
    scope: str
    month: date
    amount: Decimal
    currency: str
    thresholds: tuple[int, ...] = (80, 100)


def parse_budgets(path: Path) -> list[BudgetRow]:
    """Rows of a budgets file; SinkError naming the line on a bad one."""
    rows = []
    with path.open(newline="") as f:
        for line, r in enumerate(csv.DictReader(f), start=2):
            try:
                kind, scope = (r["scope_kind"], r["scope"]) if "scope_kind" in r else ("team", r["team"])
                if kind not in SCOPE_KINDS:
                    raise ValueError(f"scope_kind must be one of {', '.join(SCOPE_KINDS)}")
                year, month = (int(x) for x in r["month"][:7].split("-"))
                marks = tuple(int(t) for t in (r.get("thresholds") or "80;100").split(";") if t)
                rows.append(BudgetRow(kind, scope, date(year, month, 1), Decimal(r["amount"]),
                                      r["currency"].upper(), marks))
            except (KeyError, ValueError, InvalidOperation) as exc:
                raise SinkError(f"{path} line {line}: need team (or scope_kind, scope), month (YYYY-MM), amount, "
                                f"currency: {exc}") from None
    return rows


def load_budgets(client: Client, path: Path) -> int:
    """Insert (or replace) the budgets of the file; return how many rows were loaded."""
    rows = parse_budgets(path)
    client.insert("budgets", [[r.scope, r.month, r.amount, r.currency] for r in rows if r.scope_kind == "team"],
                  column_names=["team", "month", "amount", "currency"])
    client.insert("scope_budgets", [[r.scope_kind, r.scope, r.month, r.amount, r.currency, list(r.thresholds)]
                                    for r in rows],
                  column_names=["scope_kind", "scope", "month", "amount", "currency", "thresholds"])
    return len(rows)


def publish_budgets(kafka: KafkaSettings, topics: Topics, rows: list[BudgetRow]) -> int:
    """The budgets on the compacted budgets topic (key ``<kind>:<scope>|<YYYY-MM>|<currency>``)."""
    codec, now = RecordCodec("budget"), now_us()

    def record(r: BudgetRow) -> tuple[bytes, bytes]:
        month = r.month.strftime("%Y-%m")
        key = f"{r.scope_kind}:{r.scope}|{month}|{r.currency}"
        return key.encode(), codec.encode({"scope_kind": r.scope_kind, "scope": r.scope, "month": month,
                                           "amount": r.amount, "currency": r.currency,
                                           "thresholds": list(r.thresholds), "updated_at": now})
    return publish_records(kafka, topics.budgets, [record(r) for r in rows])

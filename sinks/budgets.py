"""Team budgets from a CSV file (``team,month,amount,currency``; month as YYYY-MM)."""

from __future__ import annotations

import csv
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

from clickhouse_connect.driver.client import Client

from .errors import SinkError


def load_budgets(client: Client, path: Path) -> int:
    """Insert (or replace) the budgets of the file; return how many rows were loaded."""
    rows = []
    with path.open(newline="") as f:
        for line, r in enumerate(csv.DictReader(f), start=2):
            try:
                year, month = (int(x) for x in r["month"][:7].split("-"))
                rows.append([r["team"], date(year, month, 1), Decimal(r["amount"]), r["currency"].upper()])
            except (KeyError, ValueError, InvalidOperation) as exc:
                raise SinkError(f"{path} line {line}: need team, month (YYYY-MM), amount, currency: {exc}") from None
    client.insert("budgets", rows, column_names=["team", "month", "amount", "currency"])
    return len(rows)

"""Loading a price catalog file as a new catalog version.

CSV with a header: ``model,version_pattern,metric,unit_price,currency,
effective_from,effective_to[,tier_from]``. version_pattern is an exact
version, ``<major>.*`` or ``*``; effective_to empty means open-ended;
tier_from (default 0) starts a graduated tier at that monthly volume per
license. Output-based prices are plain metrics (``pages``, ``images``).

``cached_input_tokens`` and ``reasoning_tokens`` are counted *inside*
``input_tokens`` / ``output_tokens`` (as OpenTelemetry counts them), so their
price is an adjustment to the including metric's price, and it alone may be
negative: a cached input token billed at half the input price is listed at
minus half the input price; reasoning tokens billed as output tokens, at 0.
"""

from __future__ import annotations

import csv
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from clickhouse_connect.driver.client import Client

from meterstream.schemas.units import COUNTED_INSIDE

from ..errors import SinkError

OPEN_END = datetime(2299, 12, 31, tzinfo=timezone.utc)
REQUIRED = ["model", "version_pattern", "metric", "unit_price", "currency", "effective_from"]
COLUMNS = ["catalog_version", "model", "version_pattern", "metric", "tier_from", "unit_price", "currency",
           "effective_from", "effective_to", "source"]


class CatalogError(SinkError):
    """A price catalog file that cannot be loaded; the message names the line and field."""


def _time(value: str, line: int, name: str) -> datetime:
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise CatalogError(f"line {line}: {name} {value!r} is not an ISO date/time") from None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def _decimal(value: str, line: int, name: str, signed: bool = False) -> Decimal:
    """A price or volume: at most 12 decimals, >= 0 unless ``signed`` (adjustments of contained metrics)."""
    try:
        d = Decimal(value)
    except InvalidOperation:
        raise CatalogError(f"line {line}: {name} {value!r} is not a decimal number") from None
    if not d.is_finite() or d.as_tuple().exponent < -12:  # type: ignore[operator]
        raise CatalogError(f"line {line}: {name} {value!r} must be a number with at most 12 decimals")
    if d < 0 and not signed:
        raise CatalogError(f"line {line}: {name} {value!r} must be >= 0 (only the metrics counted inside "
                           f"another, {', '.join(sorted(COUNTED_INSIDE))}, take negative adjustments)")
    return d


def parse_catalog(path: Path) -> list[dict[str, Any]]:
    """Rows of a catalog file, validated; raises CatalogError naming line and field."""
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            raise CatalogError(f"{path}: missing columns {', '.join(missing)}")
        rows = []
        for line, r in enumerate(reader, start=2):
            start = _time(r["effective_from"], line, "effective_from")
            end = _time(r["effective_to"], line, "effective_to") if r.get("effective_to") else OPEN_END
            if end <= start:
                raise CatalogError(f"line {line}: effective_to must be after effective_from")
            rows.append({"model": r["model"], "version_pattern": r["version_pattern"] or "*",
                         "metric": r["metric"],
                         "unit_price": _decimal(r["unit_price"], line, "unit_price", r["metric"] in COUNTED_INSIDE),
                         "tier_from": _decimal(r.get("tier_from") or "0", line, "tier_from"),
                         "currency": r["currency"].upper(), "effective_from": start, "effective_to": end})
    if not rows:
        raise CatalogError(f"{path}: no prices")
    return rows


def load_catalog(client: Client, path: Path) -> int:
    """Store the file as the next catalog version, make it current, and return the version."""
    rows = parse_catalog(path)
    version = int(str(client.command("SELECT max(catalog_version) FROM price_catalog") or 0)) + 1
    data = [[version, r["model"], r["version_pattern"], r["metric"], r["tier_from"], r["unit_price"],
             r["currency"], r["effective_from"], r["effective_to"], str(path)] for r in rows]
    client.insert("price_catalog", data, column_names=COLUMNS)
    client.command("SYSTEM RELOAD DICTIONARY price_dict")
    return version

"""Loading a price catalog file as a new catalog version.

CSV with a header: ``model,version_pattern,metric,unit_price,currency,
effective_from,effective_to[,tier_from][,provider][,price_basis]``; lines
starting with ``#`` are comments (a catalog's source and date).
version_pattern is an exact version, ``<major>.*`` or ``*``; effective_to empty
means open-ended; tier_from (default 0) starts a graduated tier at that monthly
volume per license. provider (default ``''``: any provider) is the events'
``gen_ai.provider.name``. Output-based prices are plain metrics (``pages``, ``images``).

The metrics counted *inside* another (``cached_input_tokens``,
``cache_creation_input_tokens`` in ``input_tokens``, ``reasoning_tokens`` in
``output_tokens``) are priced as an adjustment of their container's price.
price_basis ``list`` rows give the provider's list price and the loader derives
the adjustment (``list_prices.py``); ``adjustment`` rows (the default, and
every catalog written before the column) give it directly, and only they may
be negative: cached input at half the input price is minus half the input price.
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
from .list_prices import BASES, derive_adjustments

OPEN_END = datetime(2299, 12, 31, tzinfo=timezone.utc)
REQUIRED = ["model", "version_pattern", "metric", "unit_price", "currency", "effective_from"]
COLUMNS = ["catalog_version", "provider", "model", "version_pattern", "metric", "tier_from", "unit_price",
           "price_basis", "list_price", "currency", "effective_from", "effective_to", "source"]


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


def _uncommented(path: Path) -> tuple[list[str], list[int]]:
    """The file's lines without ``#`` comments, and the line number of each kept line."""
    kept, numbers = [], []
    with path.open(newline="") as f:
        for number, line in enumerate(f, start=1):
            if not line.lstrip().startswith("#"):
                kept.append(line)
                numbers.append(number)
    return kept, numbers


def _row(r: dict[str, str], line: int) -> dict[str, Any]:
    start = _time(r["effective_from"], line, "effective_from")
    end = _time(r["effective_to"], line, "effective_to") if r.get("effective_to") else OPEN_END
    if end <= start:
        raise CatalogError(f"line {line}: effective_to must be after effective_from")
    basis = (r.get("price_basis") or "adjustment").strip().lower()
    if basis not in BASES:
        raise CatalogError(f"line {line}: price_basis must be one of {', '.join(BASES)}, got {basis!r}")
    row = {"line": line, "provider": (r.get("provider") or "").strip(), "model": r["model"],
           "version_pattern": r["version_pattern"] or "*", "metric": r["metric"], "price_basis": basis,
           "price": _decimal(r["unit_price"], line, "unit_price", r["metric"] in COUNTED_INSIDE),
           "tier_from": _decimal(r.get("tier_from") or "0", line, "tier_from"),
           "currency": r["currency"].upper(), "effective_from": start, "effective_to": end}
    if row["tier_from"] and row["provider"]:
        raise CatalogError(f"line {line}: graduated tiers are per model across providers: leave provider empty")
    return row


def parse_catalog(path: Path) -> list[dict[str, Any]]:
    """Rows of a catalog file, validated, unit prices derived; raises CatalogError naming line and field."""
    lines, numbers = _uncommented(path)
    reader = csv.DictReader(lines)
    missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
    if missing:
        raise CatalogError(f"{path}: missing columns {', '.join(missing)}")
    rows = [_row(r, numbers[reader.line_num - 1]) for r in reader]
    if not rows:
        raise CatalogError(f"{path}: no prices")
    derive_adjustments(rows, CatalogError)
    return rows


def load_catalog(client: Client, path: Path) -> int:
    """Store the file as the next catalog version, make it current, and return the version."""
    rows = parse_catalog(path)
    version = int(str(client.command("SELECT max(catalog_version) FROM price_catalog") or 0)) + 1
    data = [[version, r["provider"], r["model"], r["version_pattern"], r["metric"], r["tier_from"], r["unit_price"],
             r["price_basis"], r["list_price"], r["currency"], r["effective_from"], r["effective_to"], str(path)]
            for r in rows]
    client.insert("price_catalog", data, column_names=COLUMNS)
    client.command("SYSTEM RELOAD DICTIONARY price_dict")
    return version

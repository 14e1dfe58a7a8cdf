"""List prices of contained metrics -> the per-event adjustments the sink applies.

Cached input, cache-creation and reasoning tokens are counted *inside* input
and output tokens (OpenTelemetry's counting, ``schemas/units.py``), so the sink
prices them as an adjustment of their container: a cached token already paid
the input price as one of the input tokens. Providers publish *list* prices
("cached input $1.25 per million"), so a catalog row may say
``price_basis=list`` and give that price; the loader finds the container's row
with the same provider, model, version pattern, currency, window and tier, and
stores ``unit_price = list price - container's list price`` (``list_price``
keeps what the file said). ``adjustment`` rows (the default: catalogs written
before this column) give the adjustment directly, as before.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from meterstream.schemas.units import COUNTED_INSIDE

from ..errors import SinkError

BASES = ("list", "adjustment")


def _container_key(row: dict[str, Any], metric: str) -> tuple[Any, ...]:
    return (row["provider"], row["model"], row["version_pattern"], metric, row["currency"],
            row["effective_from"], row["effective_to"], row["tier_from"])


def derive_adjustments(rows: list[dict[str, Any]], error: type[SinkError]) -> None:
    """Set ``unit_price`` and ``list_price`` of every row (in place); raise ``error`` naming the line.

    ``rows`` carry ``price`` (the number in the file), ``price_basis`` and ``line``.
    """
    listed = {_container_key(r, r["metric"]): r["price"] for r in rows}
    for r in rows:
        contained = r["metric"] in COUNTED_INSIDE
        if r["price_basis"] == "list" and r["price"] < 0:
            raise error(f"line {r['line']}: a list price must be >= 0, got {r['price']}")
        if not contained:
            r["unit_price"], r["list_price"] = r["price"], r["price"]
        elif r["price_basis"] == "adjustment":
            r["unit_price"], r["list_price"] = r["price"], None
        else:
            container = listed.get(_container_key(r, COUNTED_INSIDE[r["metric"]]))
            if container is None:
                raise error(f"line {r['line']}: a list price of {r['metric']} needs the list price of "
                            f"{COUNTED_INSIDE[r['metric']]} for the same provider, model, version pattern, "
                            f"currency, window and tier (it is counted inside it)")
            r["unit_price"], r["list_price"] = Decimal(r["price"]) - Decimal(container), r["price"]

"""The price catalog as the workers hold it, to judge spend in money.

``meterstream prices load`` stores a catalog version in ClickHouse (the sink
prices every event exactly from it) and publishes the same first-tier prices
to the compacted ``prices`` topic as one ``PriceCatalog`` record (key
``catalog``); every worker reads it to its end at start and follows it. The
lookup is the sink's (``sinks/pricing/lookup.py``): rows of the event's own
provider first, then rows for any provider (``''``); within each, exact
``model_version``, then ``<major>.*``, then ``*``, within
``[effective_from, effective_to)``. A v1 catalog (before providers) reads as
prices for any provider.

Prices are unscaled integers (unit price x 10^12) so that quantity (x 10^6)
times price is the cost x 10^18, exact, as in ClickHouse's Decimal(38, 18).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Mapping

from .inventory import to_us

PRICE_SCALE = 10**12
COST_SCALE = 10**18


@dataclass(frozen=True, slots=True)
class Price:
    unit_price: int  # x 10^12
    currency: str
    start_us: int
    end_us: int


class PriceBook:
    """Prices by (provider, model, version pattern, metric), each a list of effective windows."""

    def __init__(self, version: int, rows: list[Mapping[str, Any]]) -> None:
        self.version = version
        self.prices: dict[tuple[str, str, str, str], list[Price]] = {}
        for r in rows:
            unit = int(Decimal(r["unit_price"]) * PRICE_SCALE)
            p = Price(unit, str(r["currency"]), to_us(r["effective_from"]), to_us(r["effective_to"]))
            key = (str(r.get("provider") or ""), r["model"], r["version_pattern"], r["metric"])
            self.prices.setdefault(key, []).append(p)
        self._cache: dict[tuple[str, str, str, str], tuple[list[Price], ...]] = {}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> "PriceBook":
        return cls(int(record["catalog_version"]), list(record["prices"]))

    def candidates(self, provider: str, model: str, version: str, metric: str) -> tuple[list[Price], ...]:
        """The windows of the most specific keys first (cached per provider, model, version and metric)."""
        key = (provider, model, version, metric)
        hit = self._cache.get(key)
        if hit is None:
            major = version.split(".", 1)[0]
            patterns = [version, f"{major}.*", "*"] if version else ["*"]
            keys = [(pv, model, p, metric) for pv in ((provider, "") if provider else ("",)) for p in patterns]
            hit = tuple(self.prices[k] for k in keys if k in self.prices)
            self._cache[key] = hit
        return hit

    def price(self, provider: str, model: str, version: str, metric: str, t_us: int) -> Price | None:
        """The price in force for one event, or None (unpriced)."""
        for windows in self.candidates(provider, model, version, metric):
            for p in windows:
                if p.start_us <= t_us < p.end_us:
                    return p
        return None


def format_cost(unscaled: int) -> str:
    """A cost x 10^18 as an exact decimal string, trailing zeros trimmed."""
    d = Decimal(unscaled).scaleb(-18)
    text = format(d.normalize(), "f")
    return text if text not in ("-0", "") else "0"

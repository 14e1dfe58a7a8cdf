"""How an event finds its price: SQL expressions shared by the sink and by repricing.

A catalog row prices (model, version pattern, metric) over an effective
window. An event matches, most specific first: its exact ``model_version``,
then ``<major>.*`` (the part before the first dot), then ``*``; the row whose
window contains the event's time wins. Cost = quantity x unit price, computed
in ClickHouse decimals: quantity has 6 decimals and unit prices 12, so the
product (scale 18, stored as Decimal(38, 18)) is exact: nothing is rounded.
"""

from __future__ import annotations

_KEYS = ("(model, toString(model_version), metric)",
         "(model, concat(splitByChar('.', toString(model_version))[1], '.*'), metric)",
         "(model, '*', metric)")


def _found(key: str) -> str:
    return f"isNotNull(dictGetOrNull('price_dict', 'catalog_version', {key}, event_time))"


def price_key() -> str:
    """SQL expression: the most specific catalog key that prices this event."""
    k1, k2, k3 = _KEYS
    return f"multiIf({_found(k1)}, {k1}, {_found(k2)}, {k2}, {k3})"


def priced_exprs(key: str = "price_key") -> dict[str, str]:
    """SQL expressions of unit_price, cost, currency and price_version, given the price key expression."""
    price = f"dictGetOrNull('price_dict', 'unit_price', {key}, event_time)"
    return {
        "unit_price": price,
        "cost": f"CAST(quantity * {price} AS Nullable(Decimal(38, 18)))",
        "currency": f"dictGetOrDefault('price_dict', 'currency', {key}, event_time, '')",
        "price_version": f"dictGetOrDefault('price_dict', 'catalog_version', {key}, event_time, toUInt32(0))",
    }


def priced_columns(key: str = "price_key") -> str:
    """SQL select items unit_price, cost, currency, price_version."""
    return ", ".join(f"{expr} AS {col}" for col, expr in priced_exprs(key).items())

"""A message's cost in money per budget scope, the license's monthly spend, and spend spikes in money.

Events are grouped by (model, version, metric, team, use case, spike bucket)
with one dict update each; each group is priced once with the catalog in
force at its bucket's start (``prices.py``), so a price window that changes
inside a bucket (default 60 s; catalogs change at day boundaries) applies from
the next bucket here. The sink's per-event cost stays the exact record.

Each group's cost adds to the license's cumulative spend of the month per
scope (``team:<t>``, ``use_case:<u>``, ``model:<m>``) and currency, kept in
``LicenseState.spend`` (x 10^18 integers); the amounts of scopes that have a
budget go to the budget agent as ``Spend`` records (``budgets.py``). The same
groups feed a spike baseline per scope and currency in money (the license's
``spike`` map, scopes prefixed ``$``): "spend spikes by team, use case or model
version", judged like the unit spikes of ``anomaly/spike.py``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Sequence

from ..anomaly import spike
from .prices import PriceBook, format_cost

Columns = dict[str, list[Any]]
COLUMNS = ("provider", "model", "model_version", "metric", "quantity", "event_time", "team", "use_case", "app")
MONEY_SPIKE = "money_spike"
MONTHS_KEPT = 2


@dataclass(frozen=True)
class Priced:
    """What pricing one message found: cost per (scope, month, currency) and per (scope, currency, bucket)."""

    by_month: dict[tuple[str, str, str], int]
    by_bucket: dict[tuple[str, str, int], int]
    unpriced_events: int


def price_message(c: Columns, book: PriceBook, bucket_us: int) -> Priced:
    """Group the events, price each group once, and spread its cost over its scopes."""
    groups: dict[tuple[str, str, str, str, str, str, int], list[int]] = {}
    for pv, m, v, me, q, t, tm, uc, ap in zip(c["provider"], c["model"], c["model_version"], c["metric"],
                                              c["quantity"], c["event_time"], c["team"], c["use_case"], c["app"]):
        k = (pv, m, v, me, tm, uc or ap, t // bucket_us)
        g = groups.get(k)
        if g is None:
            groups[k] = [q, 1]
        else:
            g[0] += q
            g[1] += 1
    by_month: dict[tuple[str, str, str], int] = {}
    by_bucket: dict[tuple[str, str, int], int] = {}
    unpriced = 0
    for (pv, m, v, me, tm, uc, b), (q, n) in groups.items():
        p = book.price(pv, m, v, me, b * bucket_us)
        if p is None:
            unpriced += n
            continue
        cost, month = q * p.unit_price, _month(b * bucket_us)
        for scope in (f"team:{tm}" if tm else "", f"use_case:{uc}" if uc else "", f"model:{m}"):
            if scope:
                km, kb = (scope, month, p.currency), (scope, p.currency, b)
                by_month[km] = by_month.get(km, 0) + cost
                by_bucket[kb] = by_bucket.get(kb, 0) + cost
    return Priced(by_month, by_bucket, unpriced)


def _month(t_us: int) -> str:
    return time.strftime("%Y-%m", time.gmtime(t_us // 1_000_000))


def add_spend(spend: dict[str, int], priced: Priced) -> list[str]:
    """Add the message's cost to the license's monthly spend; return the keys it changed."""
    for (scope, month, cur), cost in priced.by_month.items():
        key = f"{scope}|{month}|{cur}"
        spend[key] = spend.get(key, 0) + cost
    months = sorted({k.split("|")[1] for k in spend})
    for old in months[:-MONTHS_KEPT]:
        for k in [k for k in spend if k.split("|")[1] == old]:
            del spend[k]
    return [f"{s}|{m}|{c}" for s, m, c in priced.by_month]


def spend_records(spend: dict[str, int], keys: Sequence[str], budgeted: set[str], license_id: str,
                  offset: int, event_time_us: int) -> list[dict[str, Any]]:
    """``Spend`` records of the keys whose scope has a budget (cumulative amounts)."""
    out = []
    for key in keys:
        scope, month, cur = key.split("|")
        if scope in budgeted and key in spend:
            out.append({"scope": scope, "month": month, "currency": cur, "license_id": license_id,
                        "source_offset": offset, "amount": Decimal(spend[key]).scaleb(-18),
                        "event_time": event_time_us})
    return out


def money_spikes(baselines: dict[str, Any], priced: Priced, cfg: spike.SpikeSettings) -> list[tuple[spike.Spike, str,
                                                                                                      str]]:
    """(spike, scope, currency) of each scope's bucket that is far above its baseline in money."""
    found = []
    for (scope, cur, b), cost in sorted(priced.by_bucket.items(), key=lambda kv: kv[0][2]):
        s = spike.add(baselines, f"${scope}|{cur}", b, cost, cfg)
        if s is not None:
            found.append((s, scope, cur))
    return found


def spike_evidence(s: spike.Spike, scope: str, currency: str, cfg: spike.SpikeSettings) -> dict[str, Any]:
    kind, _, name = scope.partition(":")
    return {"scope_kind": kind, "scope": name, "currency": currency, "bucket_start_us": s.bucket * cfg.bucket_us,
            "bucket_seconds": cfg.bucket_us // 1_000_000, "spend": format_cost(s.total),
            "baseline_mean": format_cost(int(s.mean)), "baseline_stddev": format_cost(int(s.stddev)),
            "history_buckets": s.history, "k": cfg.k, "ratio": cfg.ratio}

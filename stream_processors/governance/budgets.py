"""Budgets in money per team, use case or model, and where their 80/100 % alerts are decided.

Spend crosses licenses (a team uses several), while usage state is per
license, so budgets are judged after a repartition: each worker sends, per
message, its license's *cumulative* spend of the month per budget scope and
currency to the ``spend`` topic keyed by scope (``spend.py``); the budget
agent owning that scope's partition keeps the latest amount per license and
judges the sum against the month's budget. Cumulative amounts make the input
idempotent: a record sent twice, or again after a crash, changes nothing, and
one with an older source offset than the amount held is ignored.

A threshold fires once per (scope, currency, month, threshold): the month is
in the alert id, so the next month re-arms every threshold. The fired alerts
are kept in the scope's state with the offset that fired them, and re-sent
with the same ids when that spend record is redelivered (as the usage
outbox does).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Mapping

from ..alerts import make_alert
from ..quota import Period, period_end_us
from .inventory import to_us
from .prices import COST_SCALE, format_cost

BUDGET_THRESHOLD = "budget_threshold"
SCOPE_KINDS = ("team", "use_case", "model")
_MONTH = Period("month")


@dataclass(frozen=True)
class Budget:
    """One month's budget of one scope in one currency (the ``Budget`` Avro record)."""

    scope_kind: str
    scope: str
    month: str  # YYYY-MM
    amount: Decimal
    currency: str
    thresholds: tuple[int, ...] = (80, 100)
    updated_at_us: int = 0

    @property
    def scope_key(self) -> str:
        return f"{self.scope_kind}:{self.scope}"

    @property
    def key(self) -> str:
        return f"{self.scope_key}|{self.month}|{self.currency}"

    def to_record(self) -> dict[str, Any]:
        return {"scope_kind": self.scope_kind, "scope": self.scope, "month": self.month, "amount": self.amount,
                "currency": self.currency, "thresholds": list(self.thresholds), "updated_at": self.updated_at_us}

    @classmethod
    def from_record(cls, r: Mapping[str, Any]) -> "Budget":
        return cls(r["scope_kind"], r["scope"], r["month"], Decimal(r["amount"]), r["currency"],
                   tuple(r.get("thresholds") or (80, 100)), to_us(r.get("updated_at")))


class BudgetBook:
    """The budgets a worker holds, by key; ``scopes`` are the scopes that have any budget."""

    def __init__(self) -> None:
        self.by_key: dict[str, Budget] = {}
        self.scopes: set[str] = set()

    def put(self, b: Budget) -> None:
        self.by_key[b.key] = b
        self.scopes.add(b.scope_key)

    def remove(self, key: str) -> None:
        self.by_key.pop(key, None)
        self.scopes = {b.scope_key for b in self.by_key.values()}

    def get(self, scope: str, month: str, currency: str) -> Budget | None:
        return self.by_key.get(f"{scope}|{month}|{currency}")


@dataclass
class ScopeSpend:
    """The budget agent's state of one scope: latest cumulative amount per license, fired alerts."""

    offset: int = -1
    amounts: dict[str, dict[str, list[int]]] = field(default_factory=dict)  # month|cur -> lic -> [src off, amt]
    fired: dict[str, list[Any]] = field(default_factory=dict)  # alert id -> [offset, forget_after_us, alert]

    def encode(self) -> bytes:
        return json.dumps([self.offset, self.amounts, self.fired], separators=(",", ":")).encode()

    @classmethod
    def decode(cls, raw: bytes | None) -> "ScopeSpend":
        if not raw:
            return cls()
        offset, amounts, fired = json.loads(raw)
        return cls(offset, amounts, fired)


def apply_spend(st: ScopeSpend, record: Mapping[str, Any], offset: int, budgets: BudgetBook,
                retention_us: int) -> tuple[list[dict[str, Any]], bool]:
    """Apply one spend record at ``offset``; return (alerts to send, whether the state changed)."""
    if offset <= st.offset:
        return [a for o, _, a in st.fired.values() if o == offset], False
    st.offset = offset
    scope, month, currency = record["scope"], record["month"], record["currency"]
    per_license = st.amounts.setdefault(f"{month}|{currency}", {})
    held = per_license.get(record["license_id"])
    amount = int(Decimal(record["amount"]).scaleb(18))
    if held is None or record["source_offset"] > held[0]:
        per_license[record["license_id"]] = [int(record["source_offset"]), amount]
    total = sum(a for _, a in per_license.values())
    alerts = _judge(st, scope, month, currency, total, budgets.get(scope, month, currency), offset, retention_us)
    _prune(st, to_us(record["event_time"]))
    return alerts, True


def _judge(st: ScopeSpend, scope: str, month: str, currency: str, total: int, budget: Budget | None,
           offset: int, retention_us: int) -> list[dict[str, Any]]:
    """Fire each threshold the month's total has reached and that has not fired this month."""
    if budget is None or budget.amount <= 0:
        return []
    limit = int(budget.amount * COST_SCALE)
    kind, name = scope.split(":", 1)
    new = []
    for t in sorted(budget.thresholds):
        if total * 100 < limit * t:
            continue
        alert = make_alert("", BUDGET_THRESHOLD, f"{kind} {name} spent {t}% of its {month} budget "
                           f"({format_cost(total)} of {budget.amount} {currency})", period=month, threshold=t,
                           subject=f"{scope}|{currency}", team=name if kind == "team" else "",
                           severity="critical" if t >= 100 else "warning",
                           evidence={"scope_kind": kind, "scope": name, "month": month, "currency": currency,
                                     "spend": format_cost(total), "budget": str(budget.amount), "threshold_pct": t})
        if alert["alert_id"] in st.fired:
            continue
        st.fired[alert["alert_id"]] = [offset, period_end_us(_MONTH, month) + retention_us, alert]
        new.append(alert)
    return new


def _prune(st: ScopeSpend, now_us: int) -> None:
    """Forget fired marks long after their month, and the amounts of months before the previous one."""
    for aid in [aid for aid, (_, forget, _) in st.fired.items() if forget < now_us]:
        del st.fired[aid]
    months = sorted({k.split("|")[0] for k in st.amounts})
    for old in months[:-2]:
        for k in [k for k in st.amounts if k.startswith(old + "|")]:
            del st.amounts[k]

"""Money in the processor: pricing a message, monthly spend per scope, spikes in money, budget thresholds."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from meterstream.stream_processors import alerts as k
from meterstream.stream_processors.anomaly.spike import SpikeSettings
from meterstream.stream_processors.governance.budgets import BudgetBook, ScopeSpend, apply_spend
from meterstream.stream_processors.governance.prices import PriceBook
from meterstream.stream_processors.governance.spend import price_message
from meterstream.stream_processors.governance.view import GovernanceView
from meterstream.stream_processors.metering import MeteringRules, apply_message
from tests.stream_processors.factory import T0, US, columns, terms
from tests.stream_processors.governance.org import budgets

MONTH = "2026-11"
BOOK = PriceBook(1, [
    {"model": "gpt-4o", "version_pattern": "*", "metric": "input_tokens", "unit_price": Decimal("0.01"),
     "currency": "USD", "effective_from": 0, "effective_to": 10**17},
    {"model": "gpt-4o", "version_pattern": "2.*", "metric": "input_tokens", "unit_price": Decimal("0.02"),
     "currency": "USD", "effective_from": 0, "effective_to": 10**17}])


def msg(n: int, t0: int = T0, qty: int = 100 * US, **tags: Any) -> dict[str, list[Any]]:
    base = dict(model="gpt-4o", model_version="1.0", use_case="support-bot", app="", team="support")
    base.update(tags)
    return columns(n, t0=t0, quantity=qty, start_seq=(t0 - T0) // US, **base)


def test_a_message_is_priced_per_scope_with_the_most_specific_price() -> None:
    c = msg(3)
    c["model_version"] = ["1.0", "2.1", "2.1"]
    c["metric"][0] = "images"  # no price: unpriced
    priced = price_message(c, BOOK, 60 * US)
    assert priced.unpriced_events == 1
    assert priced.by_month[("team:support", MONTH, "USD")] == 2 * 100 * US * 2 * 10**10
    assert set(priced.by_month) == {(s, MONTH, "USD") for s in ("team:support", "use_case:support-bot", "model:gpt-4o")}


def test_a_provider_s_own_price_wins_and_other_providers_take_the_any_provider_price() -> None:
    book = PriceBook(2, [
        {"provider": "", "model": "gpt-4o", "version_pattern": "*", "metric": "input_tokens",
         "unit_price": Decimal("0.01"), "currency": "USD", "effective_from": 0, "effective_to": 10**17},
        {"provider": "azure.ai.openai", "model": "gpt-4o", "version_pattern": "*", "metric": "input_tokens",
         "unit_price": Decimal("0.03"), "currency": "USD", "effective_from": 0, "effective_to": 10**17}])
    c = msg(3)
    c["provider"] = ["azure.ai.openai", "openai", ""]
    priced = price_message(c, book, 60 * US)
    assert priced.by_month[("team:support", MONTH, "USD")] == 100 * US * (3 + 1 + 1) * 10**10


def test_spend_accumulates_in_state_and_spend_records_go_to_budgeted_scopes() -> None:
    v = GovernanceView()
    v.prices = BOOK
    for b in budgets(MONTH):
        v.budgets.put(b)
    st, applied = apply_message(None, "lic-1", terms(models={}), 0, msg(10), MeteringRules(), governance=v)
    assert st.spend["team:support|2026-11|USD"] == 10 * 100 * US * 10**10  # 10 USD x 10^18
    assert [(r["scope"], r["amount"]) for r in applied.spend] == [("team:support", Decimal(10))]
    _, again = apply_message(st, "lic-1", terms(models={}), 0, msg(10), MeteringRules(), governance=v)
    assert not again.changed and [r["amount"] for r in again.spend] == [Decimal(10)]  # redelivery re-sends


def test_spend_spike_in_money_fires_once_per_bucket() -> None:
    v = GovernanceView()
    v.prices = BOOK
    rules = MeteringRules(spike=SpikeSettings(min_history=3))
    st, fired = None, []
    for i in range(6):
        qty = 100 * US if i < 5 else 10_000 * US
        st, applied = apply_message(st, "lic-1", terms(models={}), i, msg(2, t0=T0 + i * 60 * US, qty=qty), rules,
                                    governance=v)
        fired += [a for a in applied.alerts if a["kind"] == k.MONEY_SPIKE]
    assert sorted(a["evidence"]["scope_kind"] for a in fired) == ["model", "team", "use_case"]
    assert {a["evidence"]["spend"] for a in fired} == {"200"}  # 2 x 10,000 tokens x 0.01 USD


def test_budget_thresholds_fire_once_per_month_and_rearm_next_month() -> None:
    book = BudgetBook()
    for b in budgets(MONTH) + budgets("2026-12"):
        book.put(b)
    st, out = ScopeSpend(), []

    def spend(offset: int, lic: str, src: int, amount: int, month: str = MONTH) -> None:
        record = {"scope": "team:support", "month": month, "currency": "USD", "license_id": lic,
                  "source_offset": src, "amount": Decimal(amount), "event_time": T0}
        alerts, _ = apply_spend(st, record, offset, book, 0)
        out.extend(alerts)

    spend(0, "lic-1", 5, 50)
    spend(1, "lic-2", 9, 31)       # 81: 80 %
    spend(2, "lic-1", 4, 90)       # stale (older source offset): ignored
    spend(3, "lic-1", 6, 60)       # 91: nothing new
    spend(4, "lic-2", 10, 45)      # 105: 100 %
    assert [(a["threshold"], a["period"], a["team"]) for a in out] == [(80, MONTH, "support"), (100, MONTH, "support")]
    resent, changed = apply_spend(st, {}, 4, book, 0)
    assert not changed and [a["threshold"] for a in resent] == [100]  # redelivered: same alert, same id
    spend(5, "lic-1", 20, 85, month="2026-12")
    assert [a["threshold"] for a in out[2:]] == [80]
    assert ScopeSpend.decode(st.encode()) == st

"""What one usage message does under governance: policy violations, exceptions used, money.

Called by ``metering.apply_message`` over the message's counted events, with
the same ``MessageAlerts`` as every other alert, so violations share the
license state's outbox: a violation fires once per (license, rule, subject,
UTC day) with a deterministic id, and a redelivered message re-sends it with
the same id. Returns the ``Spend`` records (cumulative monthly spend per
budgeted scope) the worker sends to the budget agent.
"""

from __future__ import annotations

import time
from typing import Any, Sequence

from ..alerts import POLICY_EXCEPTED, POLICY_VIOLATION, MessageAlerts
from ..anomaly.spike import SpikeSettings
from ..quota import DAY_US
from ..state import LicenseState
from .exceptions import SCOPE_FIELDS, PolicyException
from .policy import Match, Policy, evaluate
from .resolve import Novelty, Resolver
from .spend import MONEY_SPIKE, add_spend, money_spikes, price_message, spend_records, spike_evidence
from .view import GovernanceView

Columns = dict[str, list[Any]]


def govern_message(alerts: MessageAlerts, st: LicenseState, c: Columns, view: GovernanceView, license_id: str,
                   offset: int, spike_cfg: SpikeSettings) -> list[dict[str, Any]]:
    """Judge the counted events ``c``; return the spend records to send."""
    times = c["event_time"]
    resolver = view.resolver()
    if resolver is not None and view.policy is not None:
        resolver.novelty = Novelty(st.seen, times[0] // DAY_US)
        cols = [c[name] for name in resolver.columns]
        if min(times) // DAY_US != max(times) // DAY_US:
            cols.append([t // DAY_US for t in times])  # one alert per day: days become part of the subject
        for m in evaluate(view.policy, cols, resolver):
            _judge_match(alerts, m, view, resolver, cols, times, license_id)
    if view.prices is None:
        return []
    return _money(alerts, st, c, view, license_id, offset, spike_cfg)


def resend_spend(st: LicenseState, view: GovernanceView, license_id: str) -> list[dict[str, Any]]:
    """Every budgeted cumulative amount of the license (a redelivered message: they may never have left)."""
    return spend_records(st.spend, list(st.spend), view.budgets.scopes, license_id, st.offset, 0)


def _day(t_us: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(t_us // 1_000_000))


def _judge_match(alerts: MessageAlerts, m: Match, view: GovernanceView, resolver: Resolver,
                 cols: Sequence[Sequence[Any]], times: Sequence[int], license_id: str) -> None:
    """Fire the violation of one (rule, subject), unless valid exceptions cover all its events."""
    rule, key = m.rule, m.key
    subject = {f: key[resolver.col[f]] for f in SCOPE_FIELDS if f in resolver.col}
    subject.update(use_case=resolver.use_case_id(key), license_id=license_id)
    first: int | None = m.index
    used: PolicyException | None = None
    if view.exceptions.for_rule(rule.id):
        first, used = _first_uncovered(view, rule.id, subject, key, cols, times)
    policy = view.policy
    assert policy is not None
    evidence = _evidence(policy, m, subject)
    team = str(subject.get("team", ""))
    name = "|".join(str(_flat(m.values[policy.index[f]])) for f in rule.subject)
    if used is not None:
        alerts.fire(POLICY_EXCEPTED, f"{rule.id}: allowed by exception {used.exception_id} ({name})",
                    _day(times[m.index]), index=m.index, subject=f"{rule.id}|{name}", team=team, severity="info",
                    evidence={**evidence, "exception_id": used.exception_id, "approver": used.approver,
                              "exception_expires_at_us": used.expires_at_us, "exception_reason": used.reason})
    if first is None:
        return
    alerts.fire(POLICY_VIOLATION, f"{rule.id}: {rule.description or rule.condition.text} ({name})",
                _day(times[first]), index=first, subject=f"{rule.id}|{name}", team=team, severity=rule.severity,
                evidence=evidence)


def _first_uncovered(view: GovernanceView, rule_id: str, subject: dict[str, Any], key: tuple[Any, ...],
                     cols: Sequence[Sequence[Any]], times: Sequence[int]) -> tuple[int | None, PolicyException | None]:
    """(index of the subject's first event no exception covers, an exception that covered some)."""
    used = None
    n = len(key)
    for j, k in enumerate(zip(*cols)):
        if k[:n] != key:
            continue
        e = view.exceptions.covering(rule_id, subject, times[j])
        if e is None:
            return j, used
        used = used or e
    return None, used


def _flat(v: Any) -> str:
    return ",".join(v) if isinstance(v, (tuple, list, frozenset)) else str(v)


def _evidence(policy: Policy, m: Match, subject: dict[str, Any]) -> dict[str, Any]:
    """The rule, its versions and the values it was judged on."""
    r = m.rule
    ev: dict[str, Any] = {"rule_id": r.id, "rule_version": r.version, "policy_id": policy.policy_id,
                          "policy_version": policy.version, "action": r.action, "condition": r.condition.text,
                          "use_case": subject.get("use_case", ""), "model": subject.get("model", "")}
    for f in sorted(r.condition.fields):
        ev[f] = _flat(m.values[policy.index[f]])
    return ev


def _money(alerts: MessageAlerts, st: LicenseState, c: Columns, view: GovernanceView, license_id: str,
           offset: int, cfg: SpikeSettings) -> list[dict[str, Any]]:
    """Price the message, add it to the monthly spend, judge money spikes; return spend records."""
    assert view.prices is not None
    priced = price_message(c, view.prices, cfg.bucket_us)
    keys = add_spend(st.spend, priced)
    for s, scope, cur in money_spikes(st.spike, priced, cfg):
        kind, _, name = scope.partition(":")
        alerts.fire(MONEY_SPIKE, f"{kind} {name} spent {s.total / max(s.mean, 1):.1f}x its baseline in {cur}",
                    _day(s.bucket * cfg.bucket_us), index=0, subject=f"{scope}|{cur}@{s.bucket}",
                    team=name if kind == "team" else "", evidence=spike_evidence(s, scope, cur, cfg))
    return spend_records(st.spend, keys, view.budgets.scopes, license_id, offset, max(c["event_time"]))

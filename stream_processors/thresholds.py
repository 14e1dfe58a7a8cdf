"""Threshold crossing and re-arming: which quota alerts a message fires, and when a limit is exhausted.

A quota has thresholds (percentages of its limit) and may be hard. After a
message is counted, every quota it touched is judged at its new usage:

* **Calendar periods** (day, month): a threshold fires once per (metric,
  period key). The period key is part of the alert id, so the outbox is the
  mark; a new period starts with none, which re-arms every threshold. The
  marks are kept until the period has ended plus the alert retention.
* **Rolling windows**: there is no calendar, so ``RollingWindow.armed`` holds
  the fired marks. A threshold re-arms once the window's usage falls back
  below it, and the alert of each crossing is keyed by the sub-bucket in which
  it happened (``rolling:<s>@<bucket index>``), so a later crossing is a new alert.
* **Hard limits**: usage at or above the limit marks the metric exhausted for
  that period (the pre-check refuses) and fires ``quota_exhausted`` once,
  re-armed like a threshold.

An alert names the last event of the message that brought usage to its level.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

from meterstream.schemas.units import format_decimal

from . import alerts as k
from .alerts import MessageAlerts
from .license.terms import LicenseTerms, QuotaTerm
from .quota import Period, PeriodCache, period_end_us, prune_rolling, rolling_used
from .state import LicenseState, RollingWindow, period_used

Columns = dict[str, list[Any]]


def judge_quotas(alerts: MessageAlerts, st: LicenseState, terms: LicenseTerms, sums: dict[tuple[str, str], int],
                 c: Columns, retention_us: int) -> None:
    """Judge every quota the counted events ``c`` touched (``sums``: their (metric, day) keys)."""
    calendar: set[tuple[str, str]] = set()
    rolling: set[str] = set()
    for m, d in sums:
        q = terms.quotas.get(m)
        if q is None:
            continue
        if q.period.rolling:
            rolling.add(m)
        else:
            calendar.add((m, d if q.period.kind == "day" else d[:7]))
    for m in sorted(rolling):
        _rolling(alerts, st, terms.quotas[m], c)
    for m, key in sorted(calendar):
        q = terms.quotas[m]
        _judge(alerts, st, q, key, period_used(st, m, q.period, key), functools.partial(_last_in, c, m, q.period, key),
               key, forget_after_us=period_end_us(q.period, key) + retention_us)


def _last_in(c: Columns, metric: str, period: Period, key: str) -> int:
    """Index of the last event of ``metric`` in period ``key`` (the one that brought usage to its level)."""
    cache = PeriodCache(period)
    found = 0
    for i, (m, t) in enumerate(zip(c["metric"], c["event_time"])):
        if m == metric and cache.key_of(t) == key:
            found = i
    return found


def _rolling(alerts: MessageAlerts, st: LicenseState, q: QuotaTerm, c: Columns) -> None:
    """Rolling window: add to sub-buckets, re-arm thresholds usage fell below, fire new crossings."""
    window = st.rolling.get(q.metric)
    if window is None:
        window = st.rolling[q.metric] = RollingWindow()
    buckets = window.buckets
    width = q.period.bucket_us
    last = 0
    for i, (m, qty, t) in enumerate(zip(c["metric"], c["quantity"], c["event_time"])):
        if m == q.metric:
            b = t // width
            buckets[b] = buckets.get(b, 0) + qty
            last = i
    now = max(c["event_time"])
    used = rolling_used(buckets, q.period, now)
    rearm(window, used, q.limit)
    _judge(alerts, st, q, str(q.period), used, lambda: last, f"{q.period}@{now // width}", window)
    prune_rolling(buckets, q.period, now)


def rearm(window: RollingWindow, used: int, limit: int) -> None:
    """Rolling windows: forget the marks of thresholds the usage has fallen back below."""
    for t in [t for t in window.armed if used * 100 < limit * t]:
        del window.armed[t]
    if used < limit:
        window.hard = None


def _judge(alerts: MessageAlerts, st: LicenseState, q: QuotaTerm, period_key: str, used: int,
           index: Callable[[], int], alert_period: str, window: RollingWindow | None = None,
           forget_after_us: int | None = None) -> None:
    """Fire the threshold and hard-limit alerts of one (metric, period) at usage ``used``.

    ``window`` (rolling windows) holds the armed marks; calendar periods rely on the outbox ids.
    """
    evidence = {"used": format_decimal(used), "limit": format_decimal(q.limit), "hard": q.hard}
    for t in q.thresholds:
        if used * 100 < q.limit * t:
            continue
        if window is not None:
            if t in window.armed:
                continue
            window.armed[t] = alert_period
        elif alerts.fired(k.THRESHOLD, q.metric, alert_period, t):
            continue
        alerts.fire(k.THRESHOLD, f"{q.metric} reached {t}% of its {q.period} {'hard' if q.hard else 'soft'} limit",
                    alert_period, index=index(), metric=q.metric, threshold=t, evidence=evidence,
                    forget_after_us=forget_after_us)
    _hard_limit(alerts, st, q, period_key, used, index, alert_period, window, evidence, forget_after_us)


def _hard_limit(alerts: MessageAlerts, st: LicenseState, q: QuotaTerm, period_key: str, used: int,
                index: Callable[[], int], alert_period: str, window: RollingWindow | None,
                evidence: dict[str, Any], forget_after_us: int | None) -> None:
    """Mark the metric exhausted (and alert once) at or above a hard limit; clear the mark below it."""
    if not (q.hard and used >= q.limit):
        if st.exhausted.get(q.metric) == period_key:
            del st.exhausted[q.metric]
        return
    st.exhausted[q.metric] = period_key
    if window is not None:
        if window.hard is not None:
            return
        window.hard = alert_period
    if not alerts.fired(k.QUOTA_EXHAUSTED, q.metric, alert_period):
        alerts.fire(k.QUOTA_EXHAUSTED, f"hard limit of {q.metric} reached: further use is refused",
                    alert_period, index=index(), metric=q.metric, evidence=evidence, forget_after_us=forget_after_us)

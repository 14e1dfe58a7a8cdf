"""The per-license state held in the Faust table, and its read helpers.

One table value per license (key = license id, so HTTP routing and the
changelog partition follow the license). It holds everything that must change
together when a usage message is applied: the offset of the last applied
message, all-time totals, usage per metric and UTC day (and rolling-window
sub-buckets), the hard limits reached, the fired-alert outbox, the sequence
tracks, hardware seen per month, and the spike baselines.
"""

from __future__ import annotations

from typing import Any

from .quota import Period, rolling_used

DAYS_KEPT = 62  # enough to sum the current and the previous calendar month


def new_state() -> dict[str, Any]:
    return {
        "offset": -1,       # last applied source offset (redelivery dedup)
        "events": 0,        # all-time events counted
        "quantity": {},     # metric -> all-time unscaled total
        "days": {},         # metric -> {YYYY-MM-DD: unscaled}
        "rolling": {},      # metric -> {sub-bucket index: unscaled}, only for rolling quotas
        "exhausted": {},    # metric -> period key whose hard limit was reached
        "armed": {},        # metric -> {threshold: alert id} for rolling windows
        "fired": {},        # alert outbox, see alerts.Outbox
        "seq": {},          # producer -> [hi, holes]
        "hw": {},           # month -> distinct hardware ids
        "spike": {},        # scope -> EWMA baseline
        "repeats": 0,       # events dropped as repeats
        "unknown_events": 0,  # events counted while the license's terms were unknown
    }


def period_used(state: dict[str, Any], metric: str, period: Period, key: str) -> int:
    """Usage of ``metric`` in the calendar period ``key`` (a day or a month)."""
    days = state["days"].get(metric, {})
    if period.kind == "day":
        return int(days.get(key, 0))
    return sum(v for d, v in days.items() if d.startswith(key))


def used_now(state: dict[str, Any], metric: str, period: Period, now_us: int) -> tuple[int, str]:
    """(usage, period key) of ``metric`` in the period holding ``now_us``."""
    key, _, _ = period.bounds(now_us)
    if period.rolling:
        return rolling_used(state["rolling"].get(metric, {}), period, now_us), f"{period}@{key}"
    return period_used(state, metric, period, key), key


def prune_days(state: dict[str, Any]) -> None:
    for days in state["days"].values():
        if len(days) > DAYS_KEPT:
            for d in sorted(days)[:-DAYS_KEPT]:
                del days[d]
    hw = state["hw"]
    if len(hw) > 2:
        for m in sorted(hw)[:-2]:
            del hw[m]

"""The per-license state held in the Faust table, as typed records, and its read helpers.

One table value per license (key = license id, so HTTP routing and the
changelog partition follow the license). It holds everything that must change
together when a usage message is applied: the offset of the last applied
message, all-time totals, usage per metric and UTC day, the rolling windows,
the hard limits reached, the fired-alert outbox, the sequence tracks, hardware
seen per month, the spike baselines, the open reservations and the governance
fields (users and apps seen, spend in money). ``state_codec`` turns it into the
bytes of the table's changelog and back.

Records use ``__slots__``: the hot loops touch their fields per event, and a
license's state stays small in memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .quota import Period, rolling_used

DAYS_KEPT = 62  # enough to sum the current and the previous calendar month
MONTHS_KEPT = 2  # hardware ids seen: the current and the previous month


@dataclass(slots=True)
class OutboxEntry:
    """A fired alert: the source offset that fired it, when the mark may be forgotten, the Alert record."""

    offset: int
    forget_after_us: int
    alert: dict[str, Any]


@dataclass(slots=True)
class Hole:
    """Sequence numbers ``start..end-1`` of one producer not seen yet, first noticed at ``seen_us``."""

    start: int
    end: int
    seen_us: int
    reported: bool = False


@dataclass(slots=True)
class SequenceTrack:
    """One producer's numbering: ``hi`` is one past the highest number seen; ``holes`` lie below it."""

    hi: int = 0
    holes: list[Hole] = field(default_factory=list)


@dataclass(slots=True)
class SpikeBaseline:
    """One spike scope: the open bucket, its running total, the EWMA baseline, the bucket last alerted."""

    bucket: int
    total: int = 0
    mean: float = 0.0
    var: float = 0.0
    history: int = 0
    fired_bucket: int = -1


@dataclass(slots=True)
class RollingWindow:
    """One metric's rolling-window quota: usage per sub-bucket and the thresholds fired while armed.

    ``armed`` maps a threshold percent to the alert period it fired in; ``hard`` is
    that period for the hard-limit alert, or None while the hard limit is re-armed.
    """

    buckets: dict[int, int] = field(default_factory=dict)
    armed: dict[int, str] = field(default_factory=dict)
    hard: str | None = None


@dataclass(slots=True)
class Reservation:
    """Quantity of one metric held against a hard limit until it is recorded, cancelled or expires."""

    metric: str
    quantity: int  # unscaled
    expires_us: int
    decision_id: str


@dataclass(slots=True)
class LicenseState:
    """Everything one usage message may change for one license (one Faust table value)."""

    offset: int = -1  # last applied source offset (redelivery dedup)
    events: int = 0  # all-time events counted
    repeats: int = 0  # events dropped as repeats
    unknown_events: int = 0  # events counted while the license's terms were unknown
    quantity: dict[str, int] = field(default_factory=dict)  # metric -> all-time unscaled total
    days: dict[str, dict[str, int]] = field(default_factory=dict)  # metric -> {YYYY-MM-DD: unscaled}
    rolling: dict[str, RollingWindow] = field(default_factory=dict)  # metric -> window (rolling quotas only)
    exhausted: dict[str, str] = field(default_factory=dict)  # metric -> period key whose hard limit was reached
    outbox: dict[str, OutboxEntry] = field(default_factory=dict)  # alert id -> entry, see alerts.Outbox
    seq: dict[str, SequenceTrack] = field(default_factory=dict)  # producer -> track
    hw: dict[str, list[str]] = field(default_factory=dict)  # YYYY-MM -> distinct hardware ids
    spike: dict[str, SpikeBaseline] = field(default_factory=dict)  # scope -> baseline
    reservations: dict[str, Reservation] = field(default_factory=dict)  # reservation id -> reservation
    # Governance (layout v3): users seen per use case and apps seen, as {scope: {id hash: first day}};
    # cumulative spend per "<scope>|<YYYY-MM>|<currency>" in cost x 10^18 (see governance/spend.py).
    seen: dict[str, dict[str, int]] = field(default_factory=dict)
    spend: dict[str, int] = field(default_factory=dict)


def period_used(state: LicenseState, metric: str, period: Period, key: str) -> int:
    """Usage of ``metric`` in the calendar period ``key`` (a day or a month)."""
    days = state.days.get(metric, {})
    if period.kind == "day":
        return days.get(key, 0)
    return sum(v for d, v in days.items() if d.startswith(key))


def used_now(state: LicenseState, metric: str, period: Period, now_us: int) -> tuple[int, str]:
    """(usage, period key) of ``metric`` in the period holding ``now_us``."""
    key, _, _ = period.bounds(now_us)
    if period.rolling:
        window = state.rolling.get(metric)
        return rolling_used(window.buckets if window else {}, period, now_us), f"{period}@{key}"
    return period_used(state, metric, period, key), key


def prune_days(state: LicenseState) -> None:
    """Forget per-day usage and hardware months older than any period still judged."""
    for days in state.days.values():
        if len(days) > DAYS_KEPT:
            for d in sorted(days)[:-DAYS_KEPT]:
                del days[d]
    hw = state.hw
    if len(hw) > MONTHS_KEPT:
        for m in sorted(hw)[:-MONTHS_KEPT]:
            del hw[m]

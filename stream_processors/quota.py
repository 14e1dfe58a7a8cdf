"""Quota periods and the usage in a period.

Times are event times in microseconds since the epoch, UTC. A period has a
key: the UTC date for ``day`` (``2026-11-22``), ``YYYY-MM`` for ``month``, and
for a rolling window of N seconds the usage is the sum of the last N seconds
kept in 60 sub-buckets (keyed by the sub-bucket's index, ``t // bucket_us``).
Late events count in the period their own event time falls in. Which
thresholds a usage crosses, and when they re-arm, is ``thresholds.py``.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime, timezone

from .errors import InvalidTermsError

US = 1_000_000
DAY_US = 86_400 * US
ROLLING_BUCKETS = 60


@dataclass(frozen=True)
class Period:
    """How a quota's usage is grouped in time: ``day``, ``month`` or ``rolling:<seconds>``."""

    kind: str
    seconds: int = 0

    @classmethod
    def parse(cls, text: str) -> "Period":
        if text in ("day", "month"):
            return cls(text)
        if text.startswith("rolling:"):
            try:
                seconds = int(text.split(":", 1)[1])
            except ValueError:
                seconds = 0
            if seconds >= 60:
                return cls("rolling", seconds)
        raise InvalidTermsError("quotas.period", f"must be day, month or rolling:<seconds >= 60>, got {text!r}")

    def __str__(self) -> str:
        return f"rolling:{self.seconds}" if self.kind == "rolling" else self.kind

    @property
    def rolling(self) -> bool:
        return self.kind == "rolling"

    @property
    def bucket_us(self) -> int:
        """Width of one rolling sub-bucket."""
        return max(self.seconds * US // ROLLING_BUCKETS, 1)

    def bounds(self, t_us: int) -> tuple[str, int, int]:
        """(key, start, end) of the calendar period holding ``t_us``; rolling: the sub-bucket."""
        if self.kind == "day":
            start = t_us - t_us % DAY_US
            return datetime.fromtimestamp(start / US, timezone.utc).strftime("%Y-%m-%d"), start, start + DAY_US
        if self.kind == "month":
            d = datetime.fromtimestamp(t_us // US, timezone.utc)
            start = calendar.timegm((d.year, d.month, 1, 0, 0, 0)) * US
            days = calendar.monthrange(d.year, d.month)[1]
            return f"{d.year:04d}-{d.month:02d}", start, start + days * DAY_US
        b = self.bucket_us
        start = t_us - t_us % b
        return str(start // b), start, start + b


def period_end_us(period: Period, key: str) -> int:
    """End (exclusive) of the calendar period ``key`` (``YYYY-MM-DD`` or ``YYYY-MM``)."""
    if period.kind == "day":
        start = calendar.timegm(datetime.strptime(key, "%Y-%m-%d").timetuple()) * US
        return start + DAY_US
    year, month = int(key[:4]), int(key[5:7])
    return calendar.timegm((year + month // 12, month % 12 + 1, 1, 0, 0, 0)) * US


class PeriodCache:
    """Finds the period key of a stream of close event times without building a datetime each time."""

    __slots__ = ("period", "key", "start", "end")

    def __init__(self, period: Period) -> None:
        self.period = period
        self.key, self.start, self.end = "", 0, 0

    def key_of(self, t_us: int) -> str:
        if not self.start <= t_us < self.end:
            self.key, self.start, self.end = self.period.bounds(t_us)
        return self.key


def rolling_used(buckets: dict[int, int], period: Period, now_us: int) -> int:
    """Usage of a rolling window ending at ``now_us`` (sub-buckets keyed by index)."""
    first = (now_us - period.seconds * US) // period.bucket_us + 1
    last = now_us // period.bucket_us
    return sum(v for b, v in buckets.items() if first <= b <= last)


def prune_rolling(buckets: dict[int, int], period: Period, now_us: int) -> None:
    """Drop the sub-buckets that have left the window ending at ``now_us``."""
    first = (now_us - period.seconds * US) // period.bucket_us + 1
    for b in [b for b in buckets if b < first]:
        del buckets[b]

"""The period and filters a report or dashboard view is asked for."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone

from meterstream.sinks.errors import SinkError


def _today() -> date:
    return datetime.now(timezone.utc).date()


def month_start(d: date) -> date:
    return d.replace(day=1)


def next_month(d: date) -> date:
    return (d.replace(day=28) + timedelta(days=4)).replace(day=1)


@dataclass(frozen=True)
class Filters:
    """Whole UTC days ``[start, end)`` and optional team, license and model ('' = all)."""

    start: date
    end: date
    team: str = ""
    license: str = ""
    model: str = ""

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise SinkError(f"the period must end after it starts ({self.start} .. {self.end})")

    def params(self) -> dict[str, str]:
        """Query parameters of the report SQL."""
        return {"start": f"{self.start} 00:00:00", "end": f"{self.end} 00:00:00",
                "team": self.team, "license": self.license, "model": self.model}

    def previous(self) -> "Filters":
        """The period of the same length just before (for trends)."""
        length = self.end - self.start
        return replace(self, start=self.start - length, end=self.start)

    def label(self) -> str:
        last = self.end - timedelta(days=1)
        scope = ", ".join(f"{k} {v}" for k, v in (("team", self.team), ("license", self.license),
                                                    ("model", self.model)) if v)
        return f"{self.start} to {last}" + (f" ({scope})" if scope else "")

    def slug(self) -> str:
        return f"{self.start}_{self.end - timedelta(days=1)}"


def parse_day(value: str) -> date:
    """An ISO date, or the date of an ISO date-time; anything else (trailing text included) is refused."""
    try:
        return date.fromisoformat(value)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(value).date()
    except ValueError:
        raise SinkError(f"not a date: {value!r} (e.g. 2026-11-01)") from None


def period(month: str | None = None, start: str | None = None, end: str | None = None, **scope: str) -> Filters:
    """``month`` (YYYY-MM, the whole month), or ``start``/``end`` (dates, end exclusive), else this month to date."""
    if month:
        try:
            if len(month) != 7:
                raise ValueError(month)
            first = date.fromisoformat(f"{month}-01")
        except ValueError:
            raise SinkError(f"not a month: {month!r} (e.g. 2026-11)") from None
        return Filters(first, next_month(first), **scope)
    first = parse_day(start) if start else month_start(_today())
    last = parse_day(end) if end else max(_today() + timedelta(days=1), first + timedelta(days=1))
    return Filters(first, last, **scope)

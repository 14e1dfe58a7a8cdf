"""Periods, rolling windows, decimal formatting."""

from __future__ import annotations

from meterstream.stream_processors.quota import Period, PeriodCache, period_end_us, rolling_used
from meterstream.stream_processors.state import RollingWindow
from meterstream.stream_processors.thresholds import rearm
from meterstream.schemas.units import format_decimal
from tests.stream_processors.factory import T0, US


def test_calendar_periods_in_utc() -> None:
    assert Period("day").bounds(T0)[0] == "2026-11-22"
    key, start, end = Period("month").bounds(T0)
    assert key == "2026-11" and end == period_end_us(Period("month"), "2026-11")
    assert Period("month").bounds(end)[0] == "2026-12"
    assert period_end_us(Period("month"), "2026-12") == Period("month").bounds(end)[2]
    assert period_end_us(Period("day"), "2026-11-22") == Period("day").bounds(T0)[2]


def test_period_cache_matches_bounds() -> None:
    cache = PeriodCache(Period("day"))
    for t in (T0, T0 + 3600 * US, T0 + 13 * 3600 * US, T0 - 13 * 3600 * US):
        assert cache.key_of(t) == Period("day").bounds(t)[0]


def test_rolling_window_sum_and_rearm() -> None:
    p = Period.parse("rolling:600")
    b = p.bucket_us
    buckets = {T0 // b: 5, (T0 - 700 * US) // b: 100}
    assert rolling_used(buckets, p, T0) == 5
    fired = RollingWindow(armed={50: "x", 100: "y"}, hard="z")
    rearm(fired, 60, 100)
    assert (fired.armed, fired.hard) == ({50: "x"}, None)


def test_format_decimal() -> None:
    assert format_decimal(12_500_000) == "12.5" and format_decimal(10**9) == "1000" and format_decimal(1) == "0.000001"

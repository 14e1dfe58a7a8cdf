"""Periods, filters and how numbers read (no ClickHouse)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from meterstream.sinks.errors import SinkError
from meterstream.sinks.reports.html import exact, shown
from meterstream.sinks.reports.period import Filters, period


def test_month_is_the_whole_month_and_previous_has_the_same_length() -> None:
    f = period("2024-02")
    assert (f.start, f.end) == (date(2024, 2, 1), date(2024, 3, 1))
    assert (f.previous().start, f.previous().end) == (date(2024, 1, 3), date(2024, 2, 1))
    assert f.params()["end"] == "2024-03-01 00:00:00" and f.label() == "2024-02-01 to 2024-02-29"


def test_bad_periods_are_refused_with_the_value() -> None:
    with pytest.raises(SinkError, match="2024-13"):
        period("2024-13")
    with pytest.raises(SinkError, match="end after"):
        Filters(date(2024, 2, 2), date(2024, 2, 1))
    for bad_month in ("2024-02x", "2024-2", "2024-02-15"):
        with pytest.raises(SinkError, match="not a month"):
            period(bad_month)
    for bad_day in ("2024-02-01junk", "2024-02-0", "tomorrow"):
        with pytest.raises(SinkError, match="not a date"):
            period(None, bad_day)


def test_days_may_be_given_as_dates_or_date_times() -> None:
    f = period(None, "2024-02-01T10:00:00", "2024-03-01")
    assert (f.start, f.end) == (date(2024, 2, 1), date(2024, 3, 1))


def test_numbers_read_rounded_and_keep_their_exact_value() -> None:
    assert (shown(Decimal("1234.500000000000000000")), exact(Decimal("1234.500000000000000000"))) == ("1,234.50", "1234.5")
    assert (shown(Decimal("2000.000000")), exact(Decimal("2000.000000"))) == ("2,000", "2000")
    assert (shown(None), shown(12345), shown(0.333333)) == ("–", "12,345", "0.33")

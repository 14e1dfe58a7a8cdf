"""Time as meterstream carries it: integer microseconds since the epoch, UTC.

The Avro schemas declare times as ``timestamp-micros``; fastavro reads those
back as aware datetimes, so everything that decodes a record turns them back
into integers here. Nothing else in meterstream reads the wall clock its own way.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

US = 1_000_000
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def now_us() -> int:
    """The wall clock in microseconds since the epoch."""
    return time.time_ns() // 1000


def micros(value: Any) -> Any:
    """A decoded ``timestamp-micros`` value as integer microseconds (None and ints pass through)."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return (value - EPOCH) // dt.timedelta(microseconds=1)
    return value


def from_micros(t_us: int) -> dt.datetime:
    """Integer microseconds as an aware UTC datetime."""
    return EPOCH + dt.timedelta(microseconds=t_us)

"""Validation of one usage event at the call, kept cheap: it runs on the inference thread."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from meterstream.schemas.units import MAX_WHOLE, METRICS, SCALE, SCALE_DIGITS, to_unscaled

from .errors import InvalidEventError

STATUSES = frozenset({"ok", "error"})
MAX_TEXT = 256  # bytes of any identifier or tag
MAX_CATEGORIES = 32  # entries of data_categories
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
MIN_TIME_US = 946_684_800 * 10**6  # 2000-01-01
MAX_TIME_US = 7_258_118_400 * 10**6  # 2200-01-01


def unscaled_quantity(quantity: Any) -> int:
    """Quantity as an exact integer count of millionths; refuse what cannot be exact."""
    if type(quantity) is int and 0 <= quantity <= MAX_WHOLE:  # the common case, kept cheap
        return quantity * SCALE
    try:
        return to_unscaled(quantity)
    except ValueError as exc:
        raise InvalidEventError("quantity", str(exc)) from None


def check_text(name: str, value: Any, *, required: bool = False) -> str:
    """An identifier or tag: a string of at most MAX_TEXT characters (non-empty if required)."""
    if type(value) is not str:
        raise InvalidEventError(name, f"must be a string, got {type(value).__name__}")
    if required and not value:
        raise InvalidEventError(name, "is required")
    if len(value) > MAX_TEXT:
        raise InvalidEventError(name, f"longer than {MAX_TEXT} characters ({len(value)})")
    if "\x00" in value:
        raise InvalidEventError(name, "contains a NUL character")
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            raise InvalidEventError(name, "is not valid Unicode (lone surrogate)") from None
    return value


def check_metric(metric: Any) -> str:
    if type(metric) is not str or metric not in METRICS:
        raise InvalidEventError("metric", f"must be one of {sorted(METRICS)}, got {metric!r}")
    return str(metric)


def payload_hash(name: str, payload: Any, max_bytes: int = 64 << 20) -> str:
    """Hex SHA-256 of a payload the caller hands us; the payload itself goes nowhere."""
    if isinstance(payload, str):
        payload = payload.encode()
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise InvalidEventError(name, f"payload must be bytes or str, got {type(payload).__name__}")
    if len(payload) > max_bytes:
        raise InvalidEventError(name, f"payload of {len(payload)} bytes exceeds max_payload_bytes ({max_bytes})")
    return hashlib.sha256(payload).hexdigest()


def check_hash(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _HEX64.match(value):
        raise InvalidEventError(name, "must be a lowercase hex SHA-256 (64 characters)")
    return value


def check_event_id(value: Any) -> str:
    """A caller-supplied event id: a canonical lowercase UUID string."""
    if type(value) is not str or not _UUID.match(value):
        raise InvalidEventError("event_id", f"must be a lowercase UUID string, got {value!r}")
    return value


def check_event_time(value: Any) -> int:
    """Caller-supplied event time: microseconds since the epoch, between 2000 and 2200."""
    if type(value) is not int or not MIN_TIME_US <= value <= MAX_TIME_US:
        raise InvalidEventError("event_time_us", f"must be int microseconds since the epoch "
                                                 f"between 2000 and 2200, got {value!r}")
    return value


def check_latency(value: Any) -> int:
    if type(value) is not int or not 0 <= value < 1 << 62:
        raise InvalidEventError("latency_us", f"must be a non-negative int, got {value!r}")
    return value


def check_status(status: Any) -> str:
    if status not in STATUSES:
        raise InvalidEventError("status", f"must be one of {sorted(STATUSES)}, got {status!r}")
    return str(status)


def check_id(name: str, value: Any) -> str:
    """An optional reference (trace_id, decision_id, reservation_id): a non-empty identifier; absent is None."""
    return check_text(name, value, required=True)


def check_categories(value: Any) -> tuple[str, ...]:
    """data_categories: a list, tuple or set of tags, kept as a tuple in the order given, duplicates dropped."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple, set, frozenset)):
        raise InvalidEventError("data_categories", f"must be a list of strings, got {type(value).__name__}")
    if len(value) > MAX_CATEGORIES:
        raise InvalidEventError("data_categories", f"more than {MAX_CATEGORIES} entries ({len(value)})")
    items = sorted(value) if isinstance(value, (set, frozenset)) and all(type(v) is str for v in value) else value
    for item in items:
        check_text("data_categories", item, required=True)
    return tuple(dict.fromkeys(items))

"""Validation of one usage event at the call, kept cheap: it runs on the inference thread."""

from __future__ import annotations

import hashlib
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from .errors import InvalidEventError

METRICS = frozenset({"input_tokens", "output_tokens", "inferences", "pages", "images", "gpu_seconds"})
STATUSES = frozenset({"ok", "error"})
SCALE = 10**6  # quantity is Decimal(18, 6): six decimal places
MAX_QUANTITY = 10**12 * SCALE  # the largest unscaled value that fits 18 digits
MAX_TEXT = 256  # bytes of any identifier or tag
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def unscaled_quantity(quantity: Any) -> int:
    """Quantity as an exact integer count of millionths; refuse what cannot be exact."""
    if type(quantity) is int:
        if 0 <= quantity <= 10**12:
            return quantity * SCALE
        raise InvalidEventError("quantity", f"must be between 0 and 10^12, got {quantity}")
    if isinstance(quantity, bool) or not isinstance(quantity, (int, float, Decimal, str)):
        raise InvalidEventError("quantity", f"must be a number, got {type(quantity).__name__}")
    try:
        d = Decimal(str(quantity)) if not isinstance(quantity, Decimal) else quantity
        scaled = d * SCALE
        if not d.is_finite() or scaled != scaled.to_integral_value():
            raise InvalidEventError("quantity", f"{quantity!r} has more than 6 decimal places or is not finite")
    except InvalidOperation:
        raise InvalidEventError("quantity", f"{quantity!r} is not a number") from None
    value = int(scaled)
    if not 0 <= value <= MAX_QUANTITY:
        raise InvalidEventError("quantity", f"must be between 0 and 10^12, got {quantity}")
    return value


def check_text(name: str, value: Any, *, required: bool = False) -> str:
    if type(value) is not str:
        raise InvalidEventError(name, f"must be a string, got {type(value).__name__}")
    if required and not value:
        raise InvalidEventError(name, "is required")
    if len(value) > MAX_TEXT:
        raise InvalidEventError(name, f"longer than {MAX_TEXT} characters ({len(value)})")
    return value


def check_metric(metric: Any) -> str:
    if metric not in METRICS:
        raise InvalidEventError("metric", f"must be one of {sorted(METRICS)}, got {metric!r}")
    return metric  # type: ignore[no-any-return]


def payload_hash(name: str, payload: Any) -> str:
    """Hex SHA-256 of a payload the caller hands us; the payload itself goes nowhere."""
    if isinstance(payload, str):
        payload = payload.encode()
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise InvalidEventError(name, f"payload must be bytes or str, got {type(payload).__name__}")
    return hashlib.sha256(payload).hexdigest()


def check_hash(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _HEX64.match(value):
        raise InvalidEventError(name, "must be a lowercase hex SHA-256 (64 characters)")
    return value


def check_status(status: Any) -> str:
    if status not in STATUSES:
        raise InvalidEventError("status", f"must be one of {sorted(STATUSES)}, got {status!r}")
    return status  # type: ignore[no-any-return]

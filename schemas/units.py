"""The metric names and the exact scale of quantities, shared by every part of meterstream.

``quantity`` is ``decimal(18, 6)`` in ``usage_event.vN.avsc``: in Python it
travels as an *unscaled* integer (value x 10^6), so sums stay exact and no
``Decimal`` is built on the hot path.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

METRICS = frozenset({"input_tokens", "output_tokens", "cached_input_tokens", "cache_creation_input_tokens",
                     "reasoning_tokens", "inferences",
                     "pages", "images", "gpu_seconds"})
# Metrics counted inside another one, as OpenTelemetry counts them (gen_ai.usage.cache_read.input_tokens and
# gen_ai.usage.cache_creation.input_tokens inside input_tokens, reasoning tokens inside output_tokens):
# recorded and priced as metrics of their own, never added to their container when totals of tokens are asked.
COUNTED_INSIDE = {"cached_input_tokens": "input_tokens", "cache_creation_input_tokens": "input_tokens",
                  "reasoning_tokens": "output_tokens"}
SCALE_DIGITS = 6
SCALE = 10**SCALE_DIGITS
MAX_UNSCALED = 10**18 - 1  # 18 digits of precision
MAX_WHOLE = MAX_UNSCALED // SCALE  # the largest whole quantity


def to_unscaled(value: Any) -> int:
    """``value`` (int, Decimal, float or decimal string) as an exact unscaled integer in [0, MAX_UNSCALED].

    Raises ValueError with the reason when it is not a number, negative, not
    finite, finer than 6 decimal places, or too large; callers wrap it in their
    own error naming the field.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal, str)):
        raise ValueError(f"must be a number, got {type(value).__name__}")
    try:
        d = value if isinstance(value, Decimal) else Decimal(str(value))
        if not d.is_finite():
            raise ValueError(f"{value!r} is not finite")
        scaled = d.scaleb(SCALE_DIGITS)
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number") from None
    except ArithmeticError:  # Overflow of an absurd exponent such as 1e999999
        raise ValueError(f"must be between 0 and 10^12 (exclusive), got {value!r}") from None
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{value!r} has more than {SCALE_DIGITS} decimal places")
    unscaled = int(scaled)
    if not 0 <= unscaled <= MAX_UNSCALED:
        raise ValueError(f"must be between 0 and 10^12 (exclusive), got {value!r}")
    return unscaled


def format_decimal(unscaled: int, scale: int = SCALE_DIGITS) -> str:
    """An unscaled integer as a plain decimal string without trailing zeros (``12.5``, ``1000``)."""
    sign = "-" if unscaled < 0 else ""
    whole, frac = divmod(abs(unscaled), 10**scale)
    text = f"{frac:0{scale}d}".rstrip("0")
    return f"{sign}{whole}.{text}" if text else f"{sign}{whole}"

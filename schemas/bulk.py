"""Whole-column decoding of Avro longs with numpy, for the consumers that read big batches.

A usage batch's varying long columns (event times, sequence numbers) cost one Python call
per varint when read one by one; here a column block is read at once: the bytes without a
continuation bit end the items, every byte's 7 bits are shifted by its place in its item and
OR-ed per item (``reduceat``), then zig-zag decoded. numpy comes with the pipeline extra and is
imported on first use, so the producer library (which only encodes) never loads it; without
numpy, ``longs`` answers None and the caller reads the column value by value.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from .errors import DecodeError

MIN_ITEMS = 48  # below this, numpy's fixed cost per call is more than the Python loop it replaces
_np: list[ModuleType | None] = []


def _numpy() -> ModuleType | None:
    if not _np:
        try:
            import numpy
        except ImportError:  # pragma: no cover - the pipeline extra brings numpy
            _np.append(None)
        else:
            _np.append(numpy)
    return _np[0]


def preload() -> bool:
    """Import numpy now (a consumer's start) rather than inside its first message; True if present."""
    return _numpy() is not None


def longs(buf: bytes, pos: int, count: int, size: int) -> list[int] | None:
    """The ``count`` zig-zag varints in ``buf[pos:pos + size]``, or None when numpy is missing."""
    np = _numpy()
    if np is None:
        return None
    if pos + size > len(buf):
        raise DecodeError("long column runs past the end of the message")
    a: Any = np.frombuffer(buf, dtype=np.uint8, count=size, offset=pos)
    last = a < 0x80
    ends = np.flatnonzero(last)
    if len(ends) != count or not last[-1]:
        raise DecodeError("long column: item count and bytes disagree")
    starts = np.empty(count, dtype=np.intp)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    widths = ends - starts + 1
    top = int(widths.max())
    if top > 10:
        raise DecodeError("varint longer than 10 bytes")
    groups = (a & 0x7F).astype(np.uint64)
    if top == int(widths.min()):  # every item as long as the others (times, most sequences): a 2-D view
        lanes = groups.reshape(count, top)
        z = lanes[:, 0].copy()
        for k in range(1, top):
            z |= lanes[:, k] << np.uint64(7 * k)
    else:
        place = np.arange(size, dtype=np.intp) - np.repeat(starts, widths)
        z = np.bitwise_or.reduceat(groups << (place * 7).astype(np.uint64), starts)
    values = (z >> np.uint64(1)).astype(np.int64) ^ -(z & np.uint64(1)).astype(np.int64)
    out: list[int] = values.tolist()
    return out

"""Bulk Avro varints for the two long columns the meter builds itself: event times and sequences.

Both are written without a Python step per value (numpy is not a dependency of the producer):

- event times arrive in nanoseconds and travel in microseconds. The whole column is packed into
  128-bit lanes of one big integer, multiplied by a reciprocal of 1000 (exact for every value
  under ``TIME_NS_LIMIT``), shifted, and spread into 8-byte varints lane by lane with masks;
- sequence numbers are consecutive, and every license walks the same numbers, so the varints of
  an aligned chunk of ``CHUNK`` numbers are made once and a batch's column is a slice of them.

Each returns None when its fast path does not apply; the caller then uses the general encoder.
"""

from __future__ import annotations

import struct
from typing import Sequence

from meterstream.schemas.codec import encode_longs, zz

# floor(x / 1000) == (x * _M) >> _S for 0 <= x < 2**_S / 1000 (Granlund-Montgomery: _M = ceil(2**_S / 1000)).
_S = 73
_M = -(-(1 << _S) // 1000)
TIME_NS_LIMIT = (1 << _S) // 1000  # ~2269-04-01 in ns; validated times end at 2200
# Microseconds whose zig-zag varint is 8 bytes long: 2**48 µs (1978-12) up to 2**55 µs (3111).
_US_LO, _US_HI = 1 << 48, 1 << 55
_TIME_NS_LO = _US_LO * 1000
_LANES: dict[int, tuple[int, list[int], int]] = {}
_LANES_KEPT = 1 << 16  # lanes' masks kept in all (160 bytes a lane: ~10 MB); emptied beyond

CHUNK = 4096  # a multiple of 4096 divides every varint length boundary above 64 (2**13, 2**20, 2**27...)
_CHUNKS: dict[int, bytes] = {}
_CHUNK_LIMIT = 256  # chunks kept (3-4 bytes a number in the usual ranges: ~4 MB)


def _lane_masks(n: int) -> tuple[int, list[int], int]:
    """For n 128-bit lanes: the zig-zag value mask (bits 1..55), the 8 seven-bit group masks, and
    the continuation bits of the first 7 bytes of each lane."""
    masks = _LANES.get(n)
    if masks is None:
        rep = ((1 << (128 * n)) - 1) // ((1 << 128) - 1)  # bit 0 of every lane
        cont = int.from_bytes(b"\x80" * 7, "little")
        masks = (((1 << 56) - 2) * rep, [(0x7F << (7 * k)) * rep for k in range(8)], cont * rep)
        if sum(_LANES) + n > _LANES_KEPT:
            _LANES.clear()
        if n <= _LANES_KEPT:
            _LANES[n] = masks
    return masks


def time_items(ns: Sequence[int]) -> bytes | None:
    """The varints of ``t // 1000`` for every t in ``ns`` (nanoseconds), or None when some value
    is outside [1978-12, 2269): its varint would not be 8 bytes, or the reciprocal not exact."""
    n = len(ns)
    if n < 8 or min(ns) < _TIME_NS_LO or max(ns) >= TIME_NS_LIMIT:
        return None
    lanes = [0] * (2 * n)
    lanes[::2] = ns
    x = int.from_bytes(struct.pack(f"<{2 * n}Q", *lanes), "little")
    value_mask, groups, out = _lane_masks(n)
    z = ((x * _M) >> (_S - 1)) & value_mask  # each lane: 2 * (t // 1000), the zig-zag of a positive long
    for k, mask in enumerate(groups):
        out |= (z & mask) << k
    return memoryview(out.to_bytes(16 * n, "little")).cast("Q")[::2].tobytes()


def _chunk(c: int) -> bytes:
    blob = _CHUNKS.get(c)
    if blob is None:
        if len(_CHUNKS) >= _CHUNK_LIMIT:
            _CHUNKS.clear()
        values = range(c * CHUNK, (c + 1) * CHUNK)
        blob = _CHUNKS[c] = encode_longs(values) if c else b"".join([zz(v) for v in values])
    return blob


def _offset(v: int) -> int:
    """Byte offset of v's varint in its chunk's blob."""
    c, i = divmod(v, CHUNK)
    if c:
        return i * len(zz(c * CHUNK))  # one length throughout a chunk after the first
    return i if i < 64 else 64 + (i - 64) * 2  # the first: 1 byte below 64, 2 from there


def sequence_items(seq: int, n: int) -> bytes:
    """The varints of ``range(seq, seq + n)`` (seq >= 0), sliced from cached chunks."""
    parts = []
    end = seq + n
    while seq < end:
        c = seq // CHUNK
        stop = min(end, (c + 1) * CHUNK)
        blob = _chunk(c)
        parts.append(blob[_offset(seq):_offset(stop) if stop % CHUNK else len(blob)])
        seq = stop
    return parts[0] if len(parts) == 1 else b"".join(parts)

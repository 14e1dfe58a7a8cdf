"""Whole-column long decoding (numpy) reads exactly what the value-by-value reader reads, and refuses
what it refuses."""

from __future__ import annotations

import random
from typing import Any

import pytest

from meterstream.schemas import DecodeError, bulk
from meterstream.schemas.codec import LONG, _encode_one, decode_column, encode_column, read_long, zz

rng = random.Random(16)


def _one_by_one(buf: bytes, count: int) -> list[int]:
    out, pos = [], 0
    for _ in range(count):
        v, pos = read_long(buf, pos)
        out.append(v)
    assert pos == len(buf)
    return out


CASES = [
    [rng.randint(0, 2**50) + 1_780_000_000_000_000 for _ in range(500)],  # event times: one width
    list(range(0, 5000)),  # widths 1 and 2
    [rng.randint(-2**63, 2**63 - 1) for _ in range(300)],  # up to 10 bytes, negatives
    [-(2**63), 2**63 - 1, 0, -1, 1] * 20,
    [rng.choice([0, 63, 64, 8191, 8192, 2**20, 2**35, 2**62]) for _ in range(400)],
    [7] * 60,
]


@pytest.mark.parametrize("vals", CASES, ids=[str(i) for i in range(len(CASES))])
def test_bulk_longs_equal_the_value_by_value_reader(vals: list[int]) -> None:
    body = b"".join(zz(v) for v in vals)
    assert _one_by_one(body, len(vals)) == vals
    padded = b"\x01\x02" + body + b"\x00"  # the block sits inside a message
    assert bulk.longs(padded, 2, len(vals), len(body)) == vals


@pytest.mark.parametrize("bad", [
    pytest.param(lambda b: (b[:-1], 100), id="last item cut"),
    pytest.param(lambda b: (b, 99), id="more items than the count"),
    pytest.param(lambda b: (b + b"\x80", 100), id="ends inside an item"),
    pytest.param(lambda b: (b + b"\xff" * 10 + b"\x01", 101), id="varint of 11 bytes"),
])
def test_bulk_longs_refuse_a_damaged_block(bad: Any) -> None:
    body, count = bad(b"".join(zz(v) for v in range(1000, 1100)))
    with pytest.raises(DecodeError):
        bulk.longs(body, 0, count, len(body))


def test_a_block_past_the_message_end_is_refused() -> None:
    body = b"".join(zz(v) for v in range(100))
    with pytest.raises(DecodeError):
        bulk.longs(body, 10, 100, len(body))


def test_columns_decode_the_same_without_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    vals = CASES[0] + CASES[2]
    encoded = encode_column(LONG, vals)
    with_numpy = decode_column(LONG, encoded, 0, True)
    monkeypatch.setattr(bulk, "_np", [None])
    assert bulk.longs(encoded, 0, 1, 1) is None
    assert decode_column(LONG, encoded, 0, True) == with_numpy == (vals, len(encoded))
    assert _encode_one(LONG, vals[0]) == zz(vals[0])

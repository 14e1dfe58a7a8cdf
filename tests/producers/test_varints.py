"""Bulk varints of event times (ns → µs) and sequence ranges equal the plain per-value encoding."""

from __future__ import annotations

import random

from meterstream.producers.varints import CHUNK, TIME_NS_LIMIT, sequence_items, time_items
from meterstream.schemas.codec import zz

Y2000_NS = 946_684_800 * 10**9


def test_time_items_equal_zz_of_the_microseconds() -> None:
    rng = random.Random(16)
    edges = [Y2000_NS, TIME_NS_LIMIT - 1, (1 << 48) * 1000, 1_764_547_200_123_456_789]
    for n in (8, 9, 17, 125, 750, 1000):
        for _ in range(20):
            ns = [rng.choice(edges) if rng.random() < 0.1 else rng.randrange(Y2000_NS, TIME_NS_LIMIT)
                  for _ in range(n)]
            assert time_items(ns) == b"".join(zz(t // 1000) for t in ns)


def test_time_items_decline_what_they_cannot_encode_exactly() -> None:
    ok = [1_764_547_200_123_456_789] * 20
    assert time_items(ok[:7]) is None  # too few to be worth it
    assert time_items(ok + [TIME_NS_LIMIT]) is None  # the reciprocal is exact below the limit only
    assert time_items(ok + [(1 << 48) * 1000 - 1]) is None  # a 7-byte varint
    assert time_items(ok + [-1]) is None


def test_sequence_items_equal_zz_of_each_number() -> None:
    rng = random.Random(3)
    starts = [0, 1, 63, 64, 65, 8191, 8192, CHUNK - 1, 2 * CHUNK - 5, 2**20 - 2, 2**27 - 700, 2**40 + 3]
    for seq in starts + [rng.randrange(0, 2**30) for _ in range(30)]:
        for n in (1, 2, 125, 1000, CHUNK + 3):
            assert sequence_items(seq, n) == b"".join(zz(v) for v in range(seq, seq + n)), (seq, n)

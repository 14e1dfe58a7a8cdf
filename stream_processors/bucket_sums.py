"""One message's quantities summed per (team, metric, spike bucket), the counting step's only per-event work.

A message of a service is usually in time order, of one team and of a few metrics. Then each
bucket is a slice of the message (found by bisection) and each metric's sum in it is taken at C
speed (``sum`` over ``compress``), instead of a Python step per event. Anything else (late events
out of order, several teams, a message spread over many buckets) takes the per-event loop. Both
return the same sums with the keys in the same order (that of each key's first event), which the
state's encoding and the alerts follow.
"""

from __future__ import annotations

from bisect import bisect_left
from itertools import compress
from typing import Sequence

Sums = dict[tuple[str, str, int], int]
MAX_SLICES = 64  # more buckets than this in one message: the per-event loop is as cheap


def bucket_sums(metrics: Sequence[str], quantities: Sequence[int], times: Sequence[int], teams: Sequence[str],
                bucket_us: int) -> Sums:
    """{(team, metric, t // bucket_us): sum of quantity}, keys in order of their first event."""
    n = len(times)
    if n >= 16 and teams.count(teams[0]) == n and times[-1] // bucket_us - times[0] // bucket_us < MAX_SLICES \
            and times == sorted(times):
        return _by_slices(metrics, quantities, times, teams[0], bucket_us)
    return _per_event(metrics, quantities, times, teams, bucket_us)


def _by_slices(metrics: Sequence[str], quantities: Sequence[int], times: Sequence[int], team: str,
               bucket_us: int) -> Sums:
    out: Sums = {}
    first, last = times[0] // bucket_us, times[-1] // bucket_us
    start = 0
    for b in range(first, last + 1):
        end = bisect_left(times, (b + 1) * bucket_us, start) if b < last else len(times)
        if end == start:
            continue
        ms, qs = metrics[start:end], quantities[start:end]
        *others, final = dict.fromkeys(ms)
        rest = sum(qs)
        for m in others:  # the last metric's sum is what the others leave
            out[(team, m, b)] = part = sum(compress(qs, map(m.__eq__, ms)))
            rest -= part
        out[(team, final, b)] = rest
        start = end
    return out


def _per_event(metrics: Sequence[str], quantities: Sequence[int], times: Sequence[int], teams: Sequence[str],
               bucket_us: int) -> Sums:
    out: Sums = {}
    get = out.get
    for m, q, t, team in zip(metrics, quantities, times, teams):
        key = (team, m, t // bucket_us)
        out[key] = get(key, 0) + q
    return out

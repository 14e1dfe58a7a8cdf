"""Per-(producer, license) sequence tracking: drop repeats, find gaps.

The producer library numbers the events of one license from 0 without gaps and
replays its disk spool with the same numbers after an outage. For each
producer the state keeps ``hi`` (one past the highest number seen) and the
``holes`` below it (missing ranges, with the event time at which each was
first seen). An event whose number was already seen is a repeat: it is not
counted again. A number inside a hole fills it (a late replay), and is counted.
A hole still open ``gap_grace_us`` of event time after it appeared is a gap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from ..state import Hole, SequenceTrack

MAX_HOLES = 64  # per producer; older holes beyond this are forgotten (never reported)


@dataclass
class SequenceResult:
    """What one batch did to the sequence state."""

    keep: list[int] | None = None  # indices to count; None = all of them
    repeats: dict[str, list[int]] = field(default_factory=dict)  # producer -> [count, first seq, first index]


def _fast(track: SequenceTrack, producers: Sequence[str], seqs: Sequence[int]) -> bool:
    """One producer, numbers continuing exactly from ``hi``: the common case, in C-speed checks."""
    n = len(seqs)
    hi = track.hi
    if seqs[0] != hi or seqs[-1] != hi + n - 1 or producers.count(producers[0]) != n:
        return False
    return list(seqs) == list(range(hi, hi + n))


def _accept(track: SequenceTrack, s: int, t: int) -> bool:
    """Apply one number to the track; True if it is new."""
    hi, holes = track.hi, track.holes
    if s >= hi:
        if s > hi:
            holes.append(Hole(hi, s, t))
            del holes[:-MAX_HOLES]
        track.hi = s + 1
        return True
    for i, h in enumerate(holes):
        if h.start <= s < h.end:
            pieces = [p for p in (Hole(h.start, s, h.seen_us, h.reported), Hole(s + 1, h.end, h.seen_us, h.reported))
                      if p.start < p.end]
            holes[i:i + 1] = pieces
            return True
    return False


def apply(seq_state: dict[str, SequenceTrack], producers: Sequence[str], seqs: Sequence[int],
          times: Sequence[int]) -> SequenceResult:
    """Update ``seq_state`` (producer -> track) with one batch; say which events to count."""
    result = SequenceResult()
    if not seqs:
        return result
    track = seq_state.get(producers[0])
    if track is not None and _fast(track, producers, seqs):
        track.hi += len(seqs)
        return result
    keep = []
    for i, (p, s) in enumerate(zip(producers, seqs)):
        track = seq_state.get(p)
        if track is None:
            track = seq_state[p] = SequenceTrack()
        if _accept(track, s, times[i]):
            keep.append(i)
        else:
            r = result.repeats.get(p)
            if r is None:
                result.repeats[p] = [1, s, i]
            else:
                r[0] += 1
    if len(keep) < len(seqs):
        result.keep = keep
    return result


def due_gaps(seq_state: dict[str, SequenceTrack], now_us: int, grace_us: int) -> list[tuple[str, int, int, int]]:
    """Holes open for longer than the grace (event time), each reported once."""
    out = []
    for producer, track in seq_state.items():
        for h in track.holes:
            if not h.reported and now_us - h.seen_us >= grace_us:
                h.reported = True
                out.append((producer, h.start, h.end, h.seen_us))
    return out

"""Spend-spike detection against an EWMA baseline, per license and per team within it.

Use is summed per metric in fixed event-time buckets (default 60 s). The
baseline is an exponentially weighted mean and variance of the totals of the
*active* buckets (buckets with any use), so a license used in bursts is judged
against its own bursts, not against idle minutes. A bucket is a spike when

    total > mean + k * stddev   and   total > ratio * mean

after at least ``min_history`` active buckets. The check runs as events are
added, so a spike is reported inside the bucket it happens in, once per
(license, scope, metric, bucket). The bucket's total joins the baseline when
the next bucket starts. Late events (an older bucket) are not judged.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..state import SpikeBaseline


@dataclass(frozen=True)
class SpikeSettings:
    """Sensitivity of the spike rule (see the module docstring)."""

    bucket_us: int = 60_000_000
    alpha: float = 0.1
    k: float = 4.0
    ratio: float = 3.0
    min_history: int = 10


@dataclass(frozen=True)
class Spike:
    scope: str
    bucket: int
    total: int
    mean: float
    stddev: float
    history: int


def _close(s: SpikeBaseline, alpha: float) -> None:
    """Fold the finished bucket's total into the baseline."""
    x = s.total
    if s.history == 0:
        s.mean, s.var = float(x), 0.0
    else:
        delta = x - s.mean
        s.mean += alpha * delta
        s.var = (1 - alpha) * (s.var + alpha * delta * delta)
    s.history += 1


def add(state: dict[str, SpikeBaseline], scope: str, bucket: int, amount: int, cfg: SpikeSettings) -> Spike | None:
    """Add ``amount`` to ``scope``'s bucket; return a Spike the first time the bucket qualifies."""
    s = state.get(scope)
    if s is None:
        s = state[scope] = SpikeBaseline(bucket)
    if bucket < s.bucket:
        return None  # late: already part of the baseline's past
    if bucket > s.bucket:
        _close(s, cfg.alpha)
        s.bucket, s.total = bucket, 0
    s.total += amount
    if s.history < cfg.min_history or s.fired_bucket == bucket:
        return None
    total, mean = s.total, s.mean
    stddev = s.var ** 0.5
    if total > mean + cfg.k * stddev and total > cfg.ratio * mean:
        s.fired_bucket = bucket
        return Spike(scope, bucket, total, mean, stddev, s.history)
    return None

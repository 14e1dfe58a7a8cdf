"""What an attempt's result means: delivered, retry later (and when), or give up."""

from __future__ import annotations

import email.utils
import enum
import random
import time
from dataclasses import dataclass


class Verdict(enum.Enum):
    DELIVERED = "delivered"
    RETRY = "retry"
    FAILED = "failed"          # a 4xx the receiver will keep answering: not retried
    GONE = "gone"              # 410: the receiver asks us to stop; the endpoint is disabled
    EXHAUSTED = "exhausted"    # retryable, but the schedule is used up


def classify(status: int | None) -> Verdict:
    """2xx delivered; 410 gone; 408/429/5xx, other codes and no response retried; other 4xx failed."""
    if status is None:
        return Verdict.RETRY
    if 200 <= status < 300:
        return Verdict.DELIVERED
    if status == 410:
        return Verdict.GONE
    if 400 <= status < 500 and status not in (408, 429):
        return Verdict.FAILED
    return Verdict.RETRY


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date); None if absent or invalid."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential-ish backoff from a configurable schedule, with jitter and Retry-After."""

    schedule: tuple[float, ...]
    jitter: float = 0.1
    retry_after_max_s: float = 21600.0

    @property
    def max_attempts(self) -> int:
        return len(self.schedule) + 1

    def delay(self, attempts_made: int, retry_after: float | None = None,
              rng: random.Random | None = None) -> float | None:
        """Seconds until the next attempt after ``attempts_made`` attempts; None when exhausted.

        The schedule's wait is scaled by a random factor in 1 ± jitter (so that
        many deliveries that failed together do not retry together); a
        receiver's Retry-After, capped at ``retry_after_max_s``, is a minimum.
        """
        if attempts_made >= self.max_attempts:
            return None
        base = self.schedule[attempts_made - 1]
        wait = base * (1 + (rng or random).uniform(-self.jitter, self.jitter))
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.retry_after_max_s))
        return wait

    def horizon(self) -> float:
        """Nominal time from the first attempt to the last."""
        return sum(self.schedule)

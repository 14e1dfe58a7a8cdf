"""Slowing down a client that keeps presenting wrong license keys.

Each client address has a small token bucket of failures: ``burst`` wrong
keys pass at full speed, the bucket refills at ``per_s``, and once it is
empty every further wrong key from that address waits ``delay_s`` before its
answer. Only the one request waits (the event loop serves everyone else), and
the answer itself is unchanged, so a slowed answer tells nothing new. The
table of clients is bounded: the oldest entries are dropped first.
"""

from __future__ import annotations

import asyncio
import time

MAX_CLIENTS = 10_000


class KeyFailures:
    """Per-client buckets of wrong-key answers."""

    def __init__(self, burst: int, per_s: float, delay_s: float) -> None:
        self.burst, self.per_s, self.delay_s = burst, per_s, delay_s
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, at)
        self.slowed = 0

    def take(self, client: str, now: float | None = None) -> bool:
        """Count one wrong key of ``client``; True if it is within the burst (answer at once)."""
        t = time.monotonic() if now is None else now
        tokens, at = self._buckets.pop(client, (float(self.burst), t))
        tokens = min(float(self.burst), tokens + (t - at) * self.per_s)
        ok = tokens >= 1.0
        self._buckets[client] = (tokens - 1.0 if ok else tokens, t)
        if len(self._buckets) > MAX_CLIENTS:
            del self._buckets[next(iter(self._buckets))]
        return ok

    async def penalise(self, client: str) -> None:
        """Wait ``delay_s`` if ``client`` has used up its burst of wrong keys."""
        if not self.take(client):
            self.slowed += 1
            await asyncio.sleep(self.delay_s)

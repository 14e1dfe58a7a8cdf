"""Counters and the produce-to-state latency of one worker, served at ``/v1/stats``.

Latency is measured per message as (time the state was written) - (the
newest event time in the message); with producers stamping event time when
they send, it is the delay from produce to quota-state update.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Sequence


def percentile(values: Sequence[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


@dataclass
class Stats:
    started: float
    messages: int = 0
    steps: int = 0  # agent steps (a step applies every usage message that had arrived)
    events: int = 0
    counted: int = 0
    alerts: int = 0
    licenses: int = 0
    dead_lettered: int = 0
    first_at: float | None = None
    last_at: float | None = None
    latency_ms: deque[float] = field(default_factory=lambda: deque(maxlen=20_000))

    def step_started(self) -> None:
        """Busy time starts with the first step (its messages are counted when it ends)."""
        if self.first_at is None:
            self.first_at = time.monotonic()

    def applied(self, events: int, counted: int, times: Sequence[int]) -> None:
        now = time.time()
        mono = time.monotonic()
        if self.first_at is None:
            self.first_at = mono
        self.last_at = mono
        self.messages += 1
        self.events += events
        self.counted += counted
        if times:
            self.latency_ms.append((now * 1e6 - max(times)) / 1000)

    def as_dict(self) -> dict[str, Any]:
        span = (self.last_at or 0) - (self.first_at or 0)
        lat = list(self.latency_ms)
        return {
            "messages": self.messages, "steps": self.steps, "events": self.events, "counted": self.counted, "alerts": self.alerts,
            "license_records": self.licenses, "dead_lettered": self.dead_lettered,
            "busy_seconds": round(span, 3),
            "latency_ms": {"samples": len(lat), "p50": percentile(lat, 50), "p99": percentile(lat, 99),
                           "max": max(lat) if lat else None},
        }

    def reset_latency(self) -> None:
        self.latency_ms.clear()

"""Spans recorded recently, so an exporter's retry of an export already taken is not recorded again.

The sink would drop the repeated events anyway (same event ids), but the
stream processors count by sequence number, and the receiver numbers every
event it records anew: without this window a retried export would count twice
in quota state. Two generations of a set: when the newer one holds half the
window, the older is dropped, so memory stays bounded and a span is remembered
for at least ``window / 2`` later spans.
"""

from __future__ import annotations

import threading
from typing import Iterable


class RecentSpans:
    """A bounded, thread-safe set of (trace id, span id) keys."""

    def __init__(self, window: int) -> None:
        self._half = max(1, window // 2)
        self._new: set[str] = set()
        self._old: set[str] = set()
        self.lock = threading.Lock()

    def seen(self, key: str) -> bool:
        """True if ``key`` was added within the window (call with ``lock`` held)."""
        return key in self._new or key in self._old

    def add(self, keys: Iterable[str]) -> None:
        """Remember ``keys`` (call with ``lock`` held)."""
        for key in keys:
            self._new.add(key)
            if len(self._new) >= self._half:
                self._old, self._new = self._new, set()

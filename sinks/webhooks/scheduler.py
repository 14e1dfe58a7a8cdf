"""The due-time scheduler: which deliveries this dispatcher owns, and which attempt starts when.

It knows nothing of Kafka or HTTP. The dispatcher tells it which alert
partitions it owns (``assign``/``revoke``) and which deliveries are new
(``enqueue``); the attempt runner tells it what each attempt decided
(``reschedule``/``finished``); ``run`` starts every due delivery as its own
task through the attempt callable it is given.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import threading
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from meterstream.clock import now_us

from .state import DeliveryState

Attempt = Callable[[int, DeliveryState], Coroutine[Any, Any, None]]
IDLE_WAIT_S = 0.5  # longest sleep between looks at the heap (and at the stop event)


class DueScheduler:
    """A heap of (next_at, seq, delivery id) over the pending deliveries of the partitions owned.

    A delivery id leaves ``pending`` when its attempt starts or its partition is
    revoked; heap entries left behind by either are skipped when they come up.
    """

    def __init__(self) -> None:
        self._known: dict[int, dict[str, str]] = {}                   # partition -> delivery id -> status
        self._pending: dict[str, tuple[int, DeliveryState]] = {}      # delivery id -> (partition, state)
        self._heap: list[tuple[int, int, str]] = []
        self._seq = itertools.count()
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()

    # --- partitions -------------------------------------------------------

    def owns(self, partition: int) -> bool:
        return partition in self._known

    def statuses(self, partition: int) -> Mapping[str, str]:
        """Status of every delivery on record in an owned partition (a repeated alert is recognised by it)."""
        return self._known[partition]

    def assign(self, partition: int, states: Mapping[str, DeliveryState]) -> int:
        """Take over a partition with the states on record; its pending deliveries are queued. Returns how many."""
        self._known[partition] = {did: st.status for did, st in states.items()}
        resumed = [st for st in states.values() if st.pending]
        for st in resumed:
            self.enqueue(partition, st)
        return len(resumed)

    def revoke(self, partition: int) -> None:
        """Forget a partition: its queued deliveries are dropped (their new owner resumes them)."""
        self._known.pop(partition, None)
        for did in [d for d, (part, _) in self._pending.items() if part == partition]:
            del self._pending[did]

    # --- deliveries -------------------------------------------------------

    def record(self, partition: int, st: DeliveryState) -> None:
        """Remember a delivery's status, if its partition is still ours."""
        if partition in self._known:
            self._known[partition][st.delivery_id] = st.status

    def enqueue(self, partition: int, st: DeliveryState) -> None:
        """Queue a delivery for its ``next_at`` (the caller owns the partition)."""
        self._pending[st.delivery_id] = (partition, st)
        heapq.heappush(self._heap, (st.next_at, next(self._seq), st.delivery_id))
        self._wake.set()

    def reschedule(self, partition: int, st: DeliveryState) -> None:
        """An attempt failed and another one is due at ``st.next_at``; ignored if the partition was revoked."""
        if partition in self._known:
            self.record(partition, st)
            self.enqueue(partition, st)

    def finished(self, partition: int, st: DeliveryState) -> None:
        """A delivery reached a terminal status (delivered, failed, gone, exhausted)."""
        self.record(partition, st)

    def pop_due(self, now: int) -> list[tuple[int, DeliveryState]]:
        """Take every queued delivery due at ``now`` (microseconds), earliest first."""
        due = []
        while self._heap and self._heap[0][0] <= now:
            _, _, did = heapq.heappop(self._heap)
            entry = self._pending.pop(did, None)
            if entry is not None:
                due.append(entry)
        return due

    # --- the loop ---------------------------------------------------------

    @property
    def in_flight(self) -> int:
        """Attempts started and not yet done (including those waiting for a concurrency slot)."""
        return len(self._tasks)

    async def run(self, stop: threading.Event, attempt: Attempt) -> None:
        """Start every due delivery as its own task; sleep until the next one is due or one is queued."""
        while not stop.is_set():
            now = now_us()
            for partition, st in self.pop_due(now):
                task = asyncio.create_task(attempt(partition, st))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            wait = (self._heap[0][0] - now) / 1e6 if self._heap else IDLE_WAIT_S
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=min(max(wait, 0.0), IDLE_WAIT_S))
            except asyncio.TimeoutError:
                pass

    async def drain(self, timeout: float) -> None:
        """On stop: let attempts in flight finish and record their state; cancel those still running after ``timeout``."""
        if self._tasks:
            _, running = await asyncio.wait(set(self._tasks), timeout=timeout)
            for t in running:
                t.cancel()

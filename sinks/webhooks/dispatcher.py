"""The webhook dispatcher: durable per-delivery state, a due-time scheduler, concurrent attempts.

Order of durability for every alert: its deliveries' ``pending`` states are
acknowledged by Kafka, *then* the alert's offset is committed, *then* the
attempts start. After each attempt the new state is written (and one record
goes to the delivery log). A dispatcher killed at any point resumes from the
last state with the same ``webhook-id``; the worst case is one repeated
attempt for a delivery whose success was not yet recorded (receivers drop
repeats by ``webhook-id``).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import threading
import time

from meterstream.clock import now_us
from meterstream.kafka import clients
from meterstream.kafka.topics import ensure_topics, pipeline_topics, webhook_topics

from .attempts import AttemptRecorder
from .endpoints import EndpointRegistry
from .intake import AlertIntake
from .retry_policy import RetryPolicy
from .secret_box import SecretBox
from .sender import Sender
from .settings import WebhookSettings
from .state import DeliveryState, StateStore

log = logging.getLogger(__name__)


class Dispatcher:
    """One dispatcher process. ``run(stop)`` loops until ``stop`` is set."""

    def __init__(self, settings: WebhookSettings) -> None:
        self.settings = settings
        self.box = SecretBox(settings.webhook_master_key)
        ensure_topics(settings, pipeline_topics(settings) + webhook_topics(settings, settings.webhook_state_retention_s))
        self.producer = clients.producer(settings, {"linger.ms": 5})
        self.endpoints = EndpointRegistry(settings, settings)
        self.store = StateStore(settings, settings.webhook_retries, self.producer)
        self.intake = AlertIntake(settings, self.endpoints, self.producer)
        self.policy = RetryPolicy(tuple(settings.webhook_retry_schedule), settings.webhook_retry_jitter,
                                  settings.webhook_retry_after_max_s)
        self.known: dict[int, dict[str, str]] = {}        # partition -> delivery id -> status
        self.pending: dict[str, tuple[int, DeliveryState]] = {}  # delivery id -> (partition, state)
        self._heap: list[tuple[int, int, str]] = []
        self._seq = itertools.count()
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self.stopping = False

    def run(self, stop: threading.Event) -> None:
        try:
            asyncio.run(self.run_async(stop))
        finally:
            self.close()

    async def run_async(self, stop: threading.Event) -> None:
        slots = self.settings.webhook_max_in_flight
        async with Sender(self.settings.webhook_timeout_s, slots) as sender:
            self.recorder = AttemptRecorder(self, sender)
            scheduler = asyncio.create_task(self._schedule(stop))
            last_refresh = 0.0
            while not stop.is_set():
                if time.monotonic() - last_refresh > 1.0:
                    await asyncio.to_thread(self.endpoints.refresh, 0.0)
                    last_refresh = time.monotonic()
                await self._ingest()
            await scheduler
            self.stopping = True
            await self._drain(self.settings.webhook_timeout_s + 5)

    async def _ingest(self) -> None:
        """Read a batch of alerts, make their deliveries durable, commit, then schedule them."""
        if len(self._tasks) >= self.settings.webhook_max_queued:
            await asyncio.sleep(0.1)  # backpressure: the receivers are behind
            return
        msgs = await asyncio.to_thread(self.intake.poll, 0.2)
        await self._apply_assignment()
        msgs = [m for m in msgs if (m.partition() or 0) in self.known]  # not from a partition just revoked
        if not msgs:
            return
        fresh: list[tuple[int, DeliveryState]] = []
        for msg in msgs:
            partition = msg.partition() or 0
            known = self.known[partition]
            for st in self.intake.deliveries(msg, known):
                known[st.delivery_id] = st.status
                self.store.write(st, partition)
                fresh.append((partition, st))
        await asyncio.to_thread(self._flush_states)
        await asyncio.to_thread(self.intake.commit, msgs)
        for partition, st in fresh:
            self._enqueue(partition, st)

    def _flush_states(self) -> None:
        """Wait (as long as it takes) until Kafka has acknowledged every state written so far."""
        while self.producer.flush(30) > 0:
            log.warning("Kafka has not acknowledged delivery states yet; alert offsets stay uncommitted")

    async def _apply_assignment(self) -> None:
        added, removed = self.intake.assignment.take()
        for p in removed:
            self.known.pop(p, None)
            for did in [d for d, (part, _) in self.pending.items() if part == p]:
                del self.pending[did]
        if added:
            loaded = await asyncio.to_thread(self.store.load, added)
            for p, states in loaded.items():
                self.known[p] = {did: st.status for did, st in states.items()}
                resumed = [st for st in states.values() if st.pending]
                for st in resumed:
                    self._enqueue(p, st)
                log.info("partition %d: %d deliveries on record, %d pending resumed", p, len(states), len(resumed))

    def _enqueue(self, partition: int, st: DeliveryState) -> None:
        self.pending[st.delivery_id] = (partition, st)
        heapq.heappush(self._heap, (st.next_at, next(self._seq), st.delivery_id))
        self._wake.set()

    async def _schedule(self, stop: threading.Event) -> None:
        """Start every due delivery as its own task; sleep until the next one is due."""
        while not stop.is_set():
            now = now_us()
            while self._heap and self._heap[0][0] <= now:
                _, _, did = heapq.heappop(self._heap)
                entry = self.pending.pop(did, None)
                if entry is not None:
                    task = asyncio.create_task(self.recorder.attempt(*entry))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
            wait = (self._heap[0][0] - now) / 1e6 if self._heap else 0.5
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=min(max(wait, 0.0), 0.5))
            except asyncio.TimeoutError:
                pass

    def reschedule(self, partition: int, st: DeliveryState) -> None:
        """Called by the recorder when an attempt failed and another one is due later."""
        if partition in self.known:  # still ours
            self.known[partition][st.delivery_id] = st.status
            self._enqueue(partition, st)

    def finished(self, partition: int, st: DeliveryState) -> None:
        if partition in self.known:
            self.known[partition][st.delivery_id] = st.status

    async def _drain(self, timeout: float) -> None:
        """On stop: let requests in flight finish and record their state (queued ones just end)."""
        if self._tasks:
            done, running = await asyncio.wait(set(self._tasks), timeout=timeout)
            for t in running:
                t.cancel()

    def close(self) -> None:
        self.producer.flush(30)
        self.intake.close()
        self.endpoints.close()

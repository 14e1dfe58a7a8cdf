"""The webhook dispatcher: durable per-delivery state, a due-time scheduler, concurrent attempts.

Order of durability for every alert: its deliveries' ``pending`` states are
acknowledged by Kafka, *then* the alert's offset is committed, *then* the
attempts start. After each attempt the new state is written (and one record
goes to the delivery log). A dispatcher killed at any point resumes from the
last state with the same ``webhook-id``; the worst case is one repeated
attempt for a delivery whose success was not yet recorded (receivers drop
repeats by ``webhook-id``).

The parts: :mod:`.intake` turns alerts into deliveries, :mod:`.scheduler`
knows which are due, :mod:`.attempts` makes one attempt and decides its
outcome, :mod:`.journal` writes the outcomes. This module wires them and runs
the intake and partition-assignment loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time

from meterstream.kafka import clients
from meterstream.kafka.topics import ensure_topics, pipeline_topics, webhook_topics

from .attempts import AttemptRecorder
from .endpoints import EndpointRegistry
from .intake import AlertIntake
from .journal import DeliveryJournal
from .limits import ConcurrencyLimits
from .retry_policy import RetryPolicy
from .scheduler import DueScheduler
from .secret_box import SecretBox, SecretCache
from .sender import Sender
from .settings import WebhookSettings
from .state import DeliveryState, StateStore

log = logging.getLogger(__name__)
REFRESH_ENDPOINTS_S = 1.0


class Dispatcher:
    """One dispatcher process: wires the parts, then reads alerts and follows partition assignment.

    ``run(stop)`` loops until ``stop`` is set. Attempts run as tasks started by
    the :class:`DueScheduler`; an :class:`AttemptRecorder` makes each one.
    """

    def __init__(self, settings: WebhookSettings) -> None:
        self.settings = settings
        self.secrets = SecretCache(SecretBox(settings.webhook_master_key))  # no master key: fail before any I/O
        ensure_topics(settings, pipeline_topics(settings) + webhook_topics(settings, settings.webhook_state_retention_s))
        self.producer = clients.producer(settings, {"linger.ms": 5})
        self.endpoints = EndpointRegistry(settings, settings)
        self.store = StateStore(settings, settings.webhook_retries, self.producer)
        self.journal = DeliveryJournal(self.store, self.producer, settings.webhook_deliveries, settings.webhook_dlq)
        self.intake = AlertIntake(settings, self.endpoints, self.producer)
        self.policy = RetryPolicy(tuple(settings.webhook_retry_schedule), settings.webhook_retry_jitter,
                                  settings.webhook_retry_after_max_s)
        self.scheduler = DueScheduler()
        self._stopping = threading.Event()

    def run(self, stop: threading.Event) -> None:
        try:
            asyncio.run(self.run_async(stop))
        finally:
            self.close()

    async def run_async(self, stop: threading.Event) -> None:
        s = self.settings
        async with Sender(s.webhook_timeout_s, s.webhook_max_in_flight) as sender:
            recorder = AttemptRecorder(
                sender=sender, endpoints=self.endpoints, secrets=self.secrets, policy=self.policy,
                limits=ConcurrencyLimits(s.webhook_max_in_flight, s.webhook_endpoint_concurrency),
                journal=self.journal, schedule=self.scheduler, stopping=self._stopping.is_set)
            scheduling = asyncio.create_task(self.scheduler.run(stop, recorder.attempt))
            last_refresh = 0.0
            while not stop.is_set():
                if time.monotonic() - last_refresh > REFRESH_ENDPOINTS_S:
                    await asyncio.to_thread(self.endpoints.refresh, 0.0)
                    last_refresh = time.monotonic()
                await self._ingest()
            await scheduling
            self._stopping.set()
            await self.scheduler.drain(s.webhook_timeout_s + 5)

    async def _ingest(self) -> None:
        """Read a batch of alerts, make their deliveries durable, commit, then schedule them."""
        if self.scheduler.in_flight >= self.settings.webhook_max_queued:
            await asyncio.sleep(0.1)  # backpressure: the receivers are behind
            return
        msgs = await asyncio.to_thread(self.intake.poll, 0.2)
        await self._apply_assignment()
        msgs = [m for m in msgs if self.scheduler.owns(m.partition() or 0)]  # not from a partition just revoked
        if not msgs:
            return
        fresh: list[tuple[int, DeliveryState]] = []
        for msg in msgs:
            partition = msg.partition() or 0
            for st in self.intake.deliveries(msg, self.scheduler.statuses(partition)):
                self.scheduler.record(partition, st)  # a repeat of the alert in this batch is recognised
                self.journal.write_state(st, partition)
                fresh.append((partition, st))
        await asyncio.to_thread(self.journal.wait_acknowledged)
        await asyncio.to_thread(self.intake.commit, msgs)
        for partition, st in fresh:
            self.scheduler.enqueue(partition, st)

    async def _apply_assignment(self) -> None:
        """Forget revoked partitions; reload the states of assigned ones and resume their pending deliveries."""
        added, removed = self.intake.assignment.take()
        for p in removed:
            self.scheduler.revoke(p)
        if added:
            loaded = await asyncio.to_thread(self.store.load, added)
            for p, states in loaded.items():
                resumed = self.scheduler.assign(p, states)
                log.info("partition %d: %d deliveries on record, %d pending resumed", p, len(states), resumed)

    def close(self) -> None:
        self.producer.flush(30)
        self.intake.close()
        self.endpoints.close()

"""One attempt of one delivery and everything it decides: next state, log record, DLQ, 410 handling.

The attempt runner gets only what it uses, each through a small interface:
the endpoint lookup, the signing secrets, the sender, the retry policy, the
concurrency limits, the journal that writes outcomes, the schedule that is
told what comes next, and a ``stopping`` predicate. It never sees the
dispatcher, Kafka or the topics.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

from meterstream.clock import now_us

from .endpoints import Endpoint
from .errors import MasterKeyError
from .limits import ConcurrencyLimits
from .retry_policy import RetryPolicy, Verdict, classify
from .sender import AttemptResult
from .state import DeliveryState

log = logging.getLogger(__name__)
RETRY_LATER_US = 60_000_000  # an attempt that could not be made (no secret, unexpected error) waits a minute


class Schedule(Protocol):
    """Told what an attempt decided: another attempt later, or done."""

    def reschedule(self, partition: int, st: DeliveryState) -> None: ...

    def finished(self, partition: int, st: DeliveryState) -> None: ...


class OutcomeJournal(Protocol):
    """Writes a delivery's new state, its delivery-log records and its dead letter."""

    def write_state(self, st: DeliveryState, partition: int) -> None: ...

    def log_attempt(self, st: DeliveryState, url: str, attempt: int, result: AttemptResult,
                    outcome: str, next_at: int | None) -> None: ...

    def dead_letter(self, st: DeliveryState, reason: str) -> None:
        """Blocking until the dead letter is acknowledged."""


class EndpointLookup(Protocol):
    def find(self, endpoint_id: str) -> Endpoint | None: ...

    def put(self, endpoint: Endpoint) -> None: ...


class Secrets(Protocol):
    def signing_secrets(self, ciphertexts: list[str]) -> list[str]: ...


class Poster(Protocol):
    async def post(self, url: str, msg_id: str, body: bytes, secrets: list[str]) -> AttemptResult: ...


class AttemptRecorder:
    """Runs attempts under the concurrency limits and records their outcome."""

    def __init__(self, *, sender: Poster, endpoints: EndpointLookup, secrets: Secrets, policy: RetryPolicy,
                 limits: ConcurrencyLimits, journal: OutcomeJournal, schedule: Schedule,
                 stopping: Callable[[], bool]) -> None:
        self._sender = sender
        self._endpoints = endpoints
        self._secrets = secrets
        self._policy = policy
        self._limits = limits
        self._journal = journal
        self._schedule = schedule
        self._stopping = stopping
        self.delivered = 0

    async def attempt(self, partition: int, st: DeliveryState) -> None:
        """Send once and record what happened; an unexpected error postpones the delivery, never drops it."""
        try:
            await self._attempt(partition, st)
        except Exception:
            log.exception("delivery %s: unexpected error; retrying in 60s", st.delivery_id)
            self._schedule.reschedule(partition, st.advanced(next_at=now_us() + RETRY_LATER_US))

    async def _attempt(self, partition: int, st: DeliveryState) -> None:
        ep = self._endpoints.find(st.endpoint_id)
        if ep is None or not ep.enabled:
            reason = "endpoint removed" if ep is None else f"endpoint disabled: {ep.disabled_reason or 'by operator'}"
            await self._terminal(partition, st, "failed", reason)
            return
        async with self._limits.slot(ep.endpoint_id):
            if self._stopping():
                return  # shutting down: the state on record stays pending; the next start resumes it
            secrets = self._signing_secrets(ep, st)
            if not secrets:
                self._schedule.reschedule(partition, st.advanced(next_at=now_us() + RETRY_LATER_US))
                return
            result = await self._sender.post(ep.url, st.delivery_id, st.payload, secrets)
        await self._decide(partition, st, ep, result)

    def _signing_secrets(self, ep: Endpoint, st: DeliveryState) -> list[str]:
        """The endpoint's live secrets in plain; none if the master key cannot open them (the delivery waits)."""
        try:
            return self._secrets.signing_secrets(ep.live_ciphertexts())
        except MasterKeyError as exc:
            log.error("%s: %s; delivery %s stays pending", ep.endpoint_id, exc, st.delivery_id)
            return []

    def _verdict(self, attempts: int, result: AttemptResult) -> tuple[Verdict, int | None]:
        """What the result means after ``attempts`` attempts, and when the next one is due if any."""
        verdict = classify(result.status)
        if verdict is not Verdict.RETRY:
            return verdict, None
        delay = self._policy.delay(attempts, result.retry_after)
        if delay is None:
            return Verdict.EXHAUSTED, None
        return verdict, now_us() + int(delay * 1_000_000)

    async def _decide(self, partition: int, st: DeliveryState, ep: Endpoint, result: AttemptResult) -> None:
        attempts = st.attempts + 1
        verdict, next_at = self._verdict(attempts, result)
        self._journal.log_attempt(st, ep.url, attempts, result, verdict.value, next_at)
        if verdict is Verdict.RETRY:
            assert next_at is not None
            nxt = st.advanced(attempts=attempts, next_at=next_at)
            self._journal.write_state(nxt, partition)
            self._schedule.reschedule(partition, nxt)
            return
        if verdict is Verdict.DELIVERED:
            self.delivered += 1
            done = st.advanced(attempts=attempts, status="delivered")
            self._journal.write_state(done, partition)
            self._schedule.finished(partition, done)
            return
        if verdict is Verdict.GONE:
            await asyncio.to_thread(self._disable, ep.endpoint_id, f"410 Gone from {ep.url}")
        reason = f"{verdict.value} after {attempts} attempt(s): last {result.status or result.error}"
        await self._terminal(partition, st.advanced(attempts=attempts), verdict.value, reason)

    async def _terminal(self, partition: int, st: DeliveryState, status: str, reason: str) -> None:
        """Give up: the payload goes to the dead-letter topic first, then the state says so."""
        log.warning("delivery %s of alert %s to %s: %s", st.delivery_id, st.alert_id, st.endpoint_id, reason)
        await asyncio.to_thread(self._journal.dead_letter, st, reason)
        done = st.advanced(status=status)
        self._journal.write_state(done, partition)
        self._schedule.finished(partition, done)

    def _disable(self, endpoint_id: str, reason: str) -> None:
        """Blocking: the receiver answered 410, so the endpoint is disabled for every dispatcher."""
        ep = self._endpoints.find(endpoint_id)
        if ep is not None and ep.enabled:
            ep.enabled, ep.disabled_reason = False, reason
            self._endpoints.put(ep)
            log.warning("endpoint %s disabled: %s", endpoint_id, reason)

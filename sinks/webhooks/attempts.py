"""One attempt of one delivery and everything it decides: next state, log record, DLQ, 410 handling."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from meterstream.clock import now_us
from meterstream.kafka import dead_letters
from meterstream.schemas import RecordCodec

from .endpoints import Endpoint
from .errors import MasterKeyError
from .retry_policy import Verdict, classify
from .sender import AttemptResult, Sender
from .state import DeliveryState

if TYPE_CHECKING:
    from .dispatcher import Dispatcher

log = logging.getLogger(__name__)
DELIVERY = "webhook_delivery"


class AttemptRecorder:
    """Runs attempts under per-endpoint and global concurrency limits and records their outcome."""

    def __init__(self, dispatcher: "Dispatcher", sender: Sender) -> None:
        self.d = dispatcher
        self.sender = sender
        s = dispatcher.settings
        self._global = asyncio.Semaphore(s.webhook_max_in_flight)
        self._per_endpoint: defaultdict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(s.webhook_endpoint_concurrency))
        self._log_codec = RecordCodec(DELIVERY)
        self._plain: dict[str, str] = {}
        self.delivered = 0

    async def attempt(self, partition: int, st: DeliveryState) -> None:
        """Send once and record what happened; an unexpected error postpones the delivery, never drops it."""
        try:
            await self._attempt(partition, st)
        except Exception:
            log.exception("delivery %s: unexpected error; retrying in 60s", st.delivery_id)
            self.d.reschedule(partition, st.advanced(next_at=now_us() + 60_000_000))

    async def _attempt(self, partition: int, st: DeliveryState) -> None:
        """The endpoint slot is taken first, so a slow endpoint's queue holds no global slot
        and never delays other endpoints."""
        ep = self.d.endpoints.endpoints.get(st.endpoint_id)
        if ep is None or not ep.enabled:
            reason = "endpoint removed" if ep is None else f"endpoint disabled: {ep.disabled_reason or 'by operator'}"
            await self._terminal(partition, st, "failed", reason)
            return
        async with self._per_endpoint[ep.endpoint_id]:
            async with self._global:
                if self.d.stopping:
                    return  # shutting down: the state on record stays pending; the next start resumes it
                try:
                    secrets = self._secrets(ep)
                except MasterKeyError as exc:
                    log.error("%s: %s; delivery %s stays pending", ep.endpoint_id, exc, st.delivery_id)
                    secrets = []
                if not secrets:
                    self.d.reschedule(partition, st.advanced(next_at=now_us() + 60_000_000))
                    return
                result = await self.sender.post(ep.url, st.delivery_id, st.payload, secrets)
        await self._decide(partition, st, ep, result)

    def _secrets(self, ep: Endpoint) -> list[str]:
        out = []
        for token in ep.live_ciphertexts():
            if token not in self._plain:
                self._plain[token] = self.d.box.decrypt(token)
            out.append(self._plain[token])
        return out

    async def _decide(self, partition: int, st: DeliveryState, ep: Endpoint, result: AttemptResult) -> None:
        attempts = st.attempts + 1
        verdict = classify(result.status)
        next_at = None
        if verdict is Verdict.RETRY:
            delay = self.d.policy.delay(attempts, result.retry_after)
            if delay is None:
                verdict = Verdict.EXHAUSTED
            else:
                next_at = now_us() + int(delay * 1_000_000)
        self._log(st, ep, attempts, result, verdict, next_at)
        if verdict is Verdict.RETRY:
            assert next_at is not None
            nxt = st.advanced(attempts=attempts, next_at=next_at)
            self.d.store.write(nxt, partition)
            self.d.reschedule(partition, nxt)
            return
        if verdict is Verdict.DELIVERED:
            self.delivered += 1
            done = st.advanced(attempts=attempts, status="delivered")
            self.d.store.write(done, partition)
            self.d.finished(partition, done)
            return
        if verdict is Verdict.GONE:
            await asyncio.to_thread(self._disable, ep.endpoint_id, f"410 Gone from {ep.url}")
        reason = f"{verdict.value} after {attempts} attempt(s): last {result.status or result.error}"
        await self._terminal(partition, st.advanced(attempts=attempts), verdict.value, reason)

    async def _terminal(self, partition: int, st: DeliveryState, status: str, reason: str) -> None:
        """Give up: the payload goes to the dead-letter topic first, then the state says so."""
        log.warning("delivery %s of alert %s to %s: %s", st.delivery_id, st.alert_id, st.endpoint_id, reason)
        self.d.producer.produce(self.d.settings.webhook_dlq, st.payload, st.delivery_id.encode(),
                                headers=dead_letters.headers(reason, delivery_id=st.delivery_id,
                                                             endpoint_id=st.endpoint_id, alert_id=st.alert_id))
        await asyncio.to_thread(self.d.producer.flush, 30)
        done = st.advanced(status=status)
        self.d.store.write(done, partition)
        self.d.finished(partition, done)

    def _disable(self, endpoint_id: str, reason: str) -> None:
        ep = self.d.endpoints.endpoints.get(endpoint_id)
        if ep is not None and ep.enabled:
            ep.enabled, ep.disabled_reason = False, reason
            self.d.endpoints.put(ep)
            log.warning("endpoint %s disabled: %s", endpoint_id, reason)

    def _log(self, st: DeliveryState, ep: Endpoint, attempt: int, result: AttemptResult,
             verdict: Verdict, next_at: int | None) -> None:
        at = now_us()
        record: dict[str, Any] = {
            "attempt_id": f"{st.delivery_id}/{attempt}/{at}", "delivery_id": st.delivery_id,
            "alert_id": st.alert_id, "endpoint_id": st.endpoint_id, "license_id": st.license_id,
            "attempt": attempt, "url": ep.url, "status_code": result.status, "latency_us": result.latency_us,
            "error": result.error, "attempted_at": at, "outcome": verdict.value,
            "next_attempt_at": next_at}
        self.d.producer.produce(self.d.settings.webhook_deliveries, self._log_codec.encode(record),
                                st.delivery_id.encode())
        self.d.producer.poll(0)

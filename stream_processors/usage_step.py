"""One step of the usage agent: the usage messages waiting in the stream, applied together.

The agent takes what has already arrived (up to ``processor_take_max`` messages, never waiting for
more) and acks those messages only after the step, so Faust commits their offsets only after
the step's changelog writes are flushed (acks=all), as it did one message at a time. Per message,
Faust's machinery costs more than the metering itself; a step amortises what can be shared:
one wait for governance, one state load and one state write (one changelog record) per license.

A step has three phases:

1. per message, awaiting where needed: decode (or dead-letter), wait for the license's terms,
   check offline chains (their alerts are sent before their state is saved, as before); a
   message decoded before governance loaded rules needing more columns is decoded again;
2. no await at all: each license's state is loaded once, its messages applied in offset order,
   and the state written once. Nothing else (an HTTP reservation) runs in between;
3. the alerts and spend records of the messages, in message order.

A crash anywhere redelivers the whole step. States carry the offset of the last applied message,
so redelivered messages are not counted again and the alerts they fired are returned again
(same ids) and sent again.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Sequence

import faust

from meterstream.errors import MeterstreamError
from meterstream.schemas import BatchCodec, RecordCodec
from meterstream.schemas.codec import Batch

from .governance.agents import Governance
from .license.registry import TermsCache
from .license.releases import ReleaseCatalog
from .metering import FIELDS, MeteringRules, apply_message
from .offline_chain import OfflineChains
from .state import LicenseState
from .state_table import LicenseStates
from .stats import Stats


@dataclass
class _Message:
    """A decoded usage message waiting for phase 2."""

    msg: Any
    batch: Batch
    license_id: str
    terms: Any


@dataclass
class UsageSteps:
    """Everything a step needs; ``run`` applies one list of usage events."""

    codec: BatchCodec
    alert_codec: RecordCodec
    terms: TermsCache
    states: LicenseStates
    chains: OfflineChains
    governance: Governance
    catalog: ReleaseCatalog
    rules: MeteringRules
    stats: Stats
    alerts_out: faust.TopicT
    dead_letter: Callable[[Any, Exception], Awaitable[None]]
    await_licenses: Callable[[int], Awaitable[None]]

    async def run(self, events: Sequence[faust.EventT]) -> None:
        await self.governance.ready()
        self.stats.step_started()
        ready = [m for m in [await self._prepare(e.message) for e in events] if m is not None]
        while stale := [m for m in ready if not self._has_columns(m)]:
            for m in stale:  # governance loaded rules needing more columns while phase 1 awaited
                batch = await self._decode(m.msg)
                if batch is None:
                    ready.remove(m)
                else:
                    m.batch = batch
        for key, alerts, spend in self._apply(ready):
            for alert in alerts:
                await self.alerts_out.send(key=key, value=self.alert_codec.encode(alert))
                self.stats.alerts += 1
            await self.governance.send_spend(spend)

    def _has_columns(self, m: _Message) -> bool:
        columns = m.batch.columns
        return all(name in columns for name in self.governance.fields(FIELDS))

    async def _decode(self, msg: Any) -> Batch | None:
        """The columns metering and governance need now, or None when the message was dead-lettered."""
        try:
            if not msg.key:
                raise MeterstreamError("usage message without a license id key")
            return self.codec.decode(msg.value or b"", fields=self.governance.fields(FIELDS))
        except MeterstreamError as exc:
            await self.dead_letter(msg, exc)
            return None

    async def _prepare(self, msg: Any) -> _Message | None:
        """Phase 1: decode, terms, offline chain; None when the message was dead-lettered."""
        batch = await self._decode(msg)
        if batch is None:
            return None
        key = msg.key
        license_id = key.decode()
        lic = self.terms.get(license_id)
        if lic is None:
            await self.await_licenses(msg.partition)
            lic = self.terms.get(license_id)
        chain_alerts, chain_state = self.chains.check(key, msg.headers, msg.value or b"", msg.offset,
                                                      lic.tenant if lic else "")
        for alert in chain_alerts:  # sent before the state is saved: a crash re-sends them (same ids)
            await self.alerts_out.send(key=key, value=self.alert_codec.encode(alert))
        if chain_state is not None:
            self.chains.save(key, chain_state)
        return _Message(msg, batch, license_id, lic)

    def _apply(self, ready: list[_Message]) -> list[tuple[bytes, list[dict[str, Any]], list[dict[str, Any]]]]:
        """Phase 2 (no await): one load and one write per license; returns each message's alerts and spend."""
        loaded: dict[bytes, LicenseState | None] = {}
        changed: dict[bytes, None] = {}
        counted: list[tuple[_Message, int]] = []
        out = []
        for m in ready:
            key, msg = m.msg.key, m.msg
            state = loaded[key] if key in loaded else self.states.load(key)
            state, applied = apply_message(
                state, m.license_id, m.terms, msg.offset, m.batch.columns, self.rules, flag_unknown=True,
                event_id=_lazy_event_ids(self.codec, msg.value or b""), catalog=self.catalog,
                governance=self.governance.view)
            loaded[key] = state
            if applied.changed:
                changed[key] = None
                counted.append((m, applied.counted))
            out.append((key, applied.alerts, applied.spend))
        for key in changed:
            self.states.save(key, loaded[key])  # type: ignore[arg-type]  # changed: apply_message returned one
        for m, n in counted:
            self.stats.applied(m.batch.count, n, m.batch.columns["event_time"])
        return out


class HeldUsage:
    """Usage events the agent has taken but not applied yet, applied one step at a time.

    The agent keeps taking while more has arrived. If a rebalance stops the flow meanwhile, Faust
    drops what was queued and waits for every taken message to be acked, while the agent waits for a
    message that will not come; so a timer applies what is held when the flow has stopped, or when
    it has been held longer than ``max_hold_s``.
    """

    def __init__(self, steps: UsageSteps, ack: Callable[[Any], Awaitable[Any]], max_hold_s: float = 0.2) -> None:
        self.steps, self.ack, self.max_hold_s = steps, ack, max_hold_s
        self.events: list[Any] = []
        self.since = 0.0
        self._lock = asyncio.Lock()

    def add(self, event: Any) -> int:
        """Hold one more event; the number held."""
        if not self.events:
            self.since = time.monotonic()
        self.events.append(event)
        return len(self.events)

    async def apply(self) -> None:
        """Apply and ack what is held (after a step already running)."""
        async with self._lock:
            events, self.events = self.events, []
            if events:
                await self.steps.run(events)
                for event in events:
                    await self.ack(event)
                self.steps.stats.steps += 1

    async def apply_if_stuck(self, flow_active: bool) -> None:
        """The timer's check: apply what is held if the flow stopped or it waited too long."""
        if self.events and (not flow_active or time.monotonic() - self.since > self.max_hold_s):
            await self.apply()


def _lazy_event_ids(codec: BatchCodec, value: bytes) -> Callable[[int], str | None]:
    """Event ids are decoded only when an alert needs one (they are the costliest column)."""
    cache: list[list[str]] = []

    def event_id(i: int) -> str | None:
        if not cache:
            cache.append(codec.decode(value, fields=("event_id",)).columns["event_id"])
        ids = cache[0]
        return ids[i] if 0 <= i < len(ids) else None
    return event_id

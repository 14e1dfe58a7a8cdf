"""The meter's background thread: batches per license, writes ahead to the spool, delivers, replays.

Only this thread touches the spool and the Kafka producer. Each tick it takes
the licenses whose buffer is due (``batch_max_events`` rows or ``linger_ms``
old), encodes each into one message, appends it to the spool and, while Kafka
is healthy, produces it. A failed delivery (``delivery.timeout.ms`` expired,
or any other error) switches to *replay*: new batches only go to the spool,
and the spool's unacknowledged records are resent in log order, chunk by
chunk, until none is left; then delivery goes direct again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Protocol

from confluent_kafka import KafkaError, Message

from meterstream.schemas.codec import batch_count

from .batch import ROW_WIDTH, BatchBuilder
from .delivery import Delivery
from .errors import SpoolFullError
from .settings import ProducerSettings
from .spool import Headers, Pos, Spool

log = logging.getLogger(__name__)

REPLAY_CHUNK_BYTES = 8 << 20


class Chain(Protocol):
    """Signs each spooled batch into a per-license chain (``protect/offline.py``); None when unused."""

    def link(self, key: bytes, value: bytes) -> Headers: ...

    def commit(self, key: bytes) -> None: ...


@dataclass
class FlusherStats:
    """Counters a service can export; all counted in events unless named otherwise."""

    spooled_events: int = 0
    delivered_events: int = 0
    replayed_batches: int = 0
    failed_deliveries: int = 0
    fsyncs: int = 0


class Flusher:
    """State and steps of the background thread (run by :class:`~.meter.Meter`)."""

    def __init__(self, settings: ProducerSettings, queues: dict[str, list[Any]],
                 builder: BatchBuilder, spool: Spool, delivery: Delivery, chain: Chain | None = None) -> None:
        self.settings = settings
        self.chain = chain
        self.queues = queues
        self.builder = builder
        self.spool = spool
        self.delivery = delivery
        self.stats = FlusherStats()
        self.cond = threading.Condition()  # strict mode: callers wait on it for durability
        self.generation = 0  # drains started (strict mode)
        self.durable_generation = 0  # drains whose events are all durable (strict mode)
        self.spool_full = False
        self.replaying = spool.pending() > 0
        self._retry_at = 0.0
        self._first_seen: dict[str, float] = {}
        self._held: deque[tuple[bytes, bytes, int]] = deque()
        self._inflight: set[Pos] = set()
        self._last_sync = time.monotonic()
        self.ticks = 0  # completed ticks (flush() waits for fresh ones)
        self.settled = False  # as of the last tick: nothing buffered, held, in flight or unacknowledged
        self.unacknowledged = spool.pending()  # as of the last tick: spooled or held, not acknowledged
        self.held_events = 0  # events built into batches the spool has no room for yet

    # -- one tick

    def tick(self, force: bool) -> None:
        """Take what is due, spool it (and produce it when healthy), serve callbacks, replay."""
        now = time.monotonic()
        if self.settings.fsync == "always":
            with self.cond:
                self.generation += 1
                gen = self.generation
                due = self._take_due(now, True)
        else:
            due = self._take_due(now, force)
        step = self.settings.batch_max_events * ROW_WIDTH
        for lic, flat in due:
            if len(flat) <= step:
                self._hold(lic, flat)  # the usual case: one batch, no second copy of the rows
                continue
            for start in range(0, len(flat), step):
                self._hold(lic, flat[start:start + step])
        self._write_held()
        self._sync(now)
        if self.settings.fsync == "always":
            with self.cond:
                if not self._held:
                    self.durable_generation = gen
                self.cond.notify_all()  # waiters also learn that the spool is full
        self.delivery.poll(0)
        if self.replaying:
            self._replay_step(now)
        self.unacknowledged = self.spool.pending() + len(self._held)
        self.held_events = sum(n for _, _, n in self._held)
        self.settled = (not self._inflight and not self.unacknowledged and not any(self.queues.values()))
        self.ticks += 1

    def _hold(self, lic: str, flat: list[Any]) -> None:
        """Encode rows into one message, or several when one would exceed max_message_bytes."""
        value = self.builder.build(lic, flat)
        events = len(flat) // ROW_WIDTH
        if len(value) > self.settings.max_message_bytes and events > 1:
            self.builder.next_seq[lic] -= events  # renumber the halves from the same start
            half = events // 2 * ROW_WIDTH
            self._hold(lic, flat[:half])
            self._hold(lic, flat[half:])
            return
        if len(value) > self.settings.max_message_bytes:
            log.error("one event of %s encodes to %d bytes, over max_message_bytes", lic, len(value))
        self._held.append((lic.encode(), value, events))

    def _take_due(self, now: float, force: bool) -> list[tuple[str, list[Any]]]:
        """Take the rows of every license whose batch is full or has lingered long enough."""
        linger = self.settings.linger_ms / 1000
        limit = self.settings.batch_max_events * ROW_WIDTH
        first_seen = self._first_seen
        out = []
        for lic, q in list(self.queues.items()):
            n = len(q)  # a multiple of ROW_WIDTH: record() extends by one whole row atomically
            if not n:
                continue
            t0 = first_seen.get(lic)
            if t0 is None:
                first_seen[lic] = t0 = now
            if force or n >= limit or now - t0 >= linger:
                flat = q[:n]
                del q[:n]  # callers only append at the end: what they added meanwhile stays
                out.append((lic, flat))
                del first_seen[lic]
        return out

    def _write_held(self) -> None:
        held = self._held
        while held:
            key, value, n = held[0]
            headers = self.chain.link(key, value) if self.chain is not None else None
            try:
                pos = self.spool.append(key, value, headers)
            except SpoolFullError as exc:
                if not self.spool_full:
                    log.error("%s; %d batches wait in memory", exc, len(held))
                self.spool_full = True
                return
            held.popleft()
            if self.chain is not None:
                self.chain.commit(key)  # after the spool write: a restart finds the head in the spool
            self.stats.spooled_events += n
            if not self.replaying:
                self._send(pos, key, value, n, headers)
        self.spool_full = False

    def _sync(self, now: float) -> None:
        policy = self.settings.fsync
        if policy == "always" or (policy == "interval"
                                  and now - self._last_sync >= self.settings.fsync_interval_ms / 1000):
            self.spool.sync()
            self._last_sync = now
            self.stats.fsyncs += 1

    # -- delivery and replay

    def _send(self, pos: Pos, key: bytes, value: bytes, n: int, headers: Headers | None = None) -> None:
        self._inflight.add(pos)
        try:
            on_delivery = lambda err, msg: self._on_delivery(pos, n, err, msg)  # noqa: E731
            if headers:
                self.delivery.send(key, value, on_delivery, headers)
            else:
                self.delivery.send(key, value, on_delivery)
        except ConnectionError as exc:  # fatal producer error: its in-flight messages will never report
            self._inflight.clear()
            self.delivery.reset()
            self._failed(str(exc))

    def _on_delivery(self, pos: Pos, n: int, err: KafkaError | None, msg: Message) -> None:
        self._inflight.discard(pos)
        if err is None:
            self.spool.ack(pos)
            self.stats.delivered_events += n
        else:
            self._failed(str(err))

    def _failed(self, reason: str) -> None:
        self.stats.failed_deliveries += 1
        if not self.replaying:
            log.warning("Kafka delivery failed (%s): spooling until the broker is back", reason)
        self.replaying = True
        self._retry_at = time.monotonic() + self.settings.replay_backoff_ms / 1000

    def _replay_step(self, now: float) -> None:
        """Resend the oldest unacknowledged chunk once the previous one has settled."""
        if self._inflight or now < self._retry_at:
            return
        records = self.spool.unacked(REPLAY_CHUNK_BYTES, skip=set())
        if not records:
            self.replaying = False
            log.info("spool replayed: delivering directly again")
            return
        failures = self.stats.failed_deliveries
        for rec in records:
            self.stats.replayed_batches += 1
            self._send(rec.pos, rec.key, rec.value, batch_count(rec.value), rec.headers)
            if self.stats.failed_deliveries != failures:
                return  # the producer refused: back off before the next attempt


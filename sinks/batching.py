"""The one consume → buffer → write → commit loop that every sink consumer runs.

A sink is a small ``Target``: it judges each message (``accept``: a row to
write, a dead letter with its reason, or nothing to do) and writes a batch of
rows (``write``). This loop does the rest, the same way for usage, alerts,
license snapshots and webhook attempts:

* offsets are tracked per partition and committed only after the rows *and*
  the dead letters of the batch are written (OpenMeter's order: write, then
  store offsets), so a crash anywhere before the commit re-reads the batch
  and the target's write must absorb repeats (every target's table dedups);
* a batch is written when it holds ``flush_rows`` rows or its oldest message
  is ``flush_ms`` old; a batch is never left half-read when a write fails:
  the rest of the consumed messages are held with it;
* a failed write (``SinkError``) is retried with the same rows, waiting 0.5 s
  and doubling up to ``retry_max_s``; nothing moves on until it succeeds;
* before partitions are revoked the batch is written, so the new owner does
  not redo it; if that fails (or the partitions were lost) the batch is
  dropped and the new owner re-reads it;
* a message the target cannot use is a dead letter (``meterstream.kafka.dead_letters``
  headers, the ``dead_letters`` table); it never stops the consumer;
* a target may leave part of a write's durable work for later (``take_deferred``: the usage
  evidence log's leaves): it runs in one background thread, in batch order, beside the next
  batch's consume and write, and the batch is committed only once it is done; if it fails,
  nothing moves on until it succeeds (it must be idempotent), and a revoke or stop waits for it.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Generic, Protocol, Sequence, TypeVar, Union

from clickhouse_connect.driver.client import Client
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from meterstream.config import KafkaSettings
from meterstream.kafka import clients

from .dead_letters import DeadLetters
from .errors import SinkError

log = logging.getLogger(__name__)

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


# -- what a target says about one message ------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Row(Generic[T_co]):
    """OK: write ``value``; it stands for ``count`` rows (a usage message holds many events)."""

    value: T_co
    count: int = 1


@dataclass(frozen=True, slots=True)
class Invalid:
    """The message cannot be used: it becomes a dead letter with this reason."""

    reason: str


@dataclass(frozen=True, slots=True)
class Skip:
    """Nothing to write (e.g. a tombstone on a compacted topic); the offset still advances."""


SKIP = Skip()
Outcome = Union[Row[T], Invalid, Skip]


@dataclass(frozen=True, slots=True)
class Item(Generic[T]):
    """One accepted message and the value the target made of it."""

    msg: Message
    value: T
    count: int


class Target(Protocol[T]):
    """What a sink writes and how it reads a message; the loop does the rest."""

    name: str

    def accept(self, msg: Message) -> "Row[T] | Invalid | Skip":
        """Judge one message (no I/O)."""

    def write(self, items: Sequence[Item[T]]) -> Sequence[tuple[Message, str]]:
        """Write the batch durably; return the messages the store refused, with the reason (dead
        letters). Raise SinkError to have the same batch retried."""


@dataclass(frozen=True)
class FlushPolicy:
    rows: int
    ms: int
    retry_max_s: float


# -- the loop ------------------------------------------------------------------------------------------

@dataclass
class _Pending:
    """A written batch whose deferred work runs in the background: committed once it is done."""

    work: list[Callable[[], None]]
    offsets: dict[tuple[str, int], int]
    future: "Future[None]"


def _run_all(work: list[Callable[[], None]]) -> None:
    for fn in work:
        fn()


@dataclass
class _Batch(Generic[T]):
    items: list[Item[T]] = field(default_factory=list)
    rows: int = 0
    since: float = 0.0
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    written: int = 0  # items[:written] are durable: a retry writes only the rest, then dead letters, commit
    deferred: list[Callable[[], None]] = field(default_factory=list)  # what the target left of those writes

    def mark(self, msg: Message) -> None:
        if not self.offsets:
            self.since = time.monotonic()
        key = (str(msg.topic()), int(msg.partition() or 0))
        self.offsets[key] = max(self.offsets.get(key, -1), int(msg.offset() or 0))


class BatchingConsumer(Generic[T]):
    """Runs one target against one consumer. ``run(stop)`` loops until ``stop`` is set."""

    def __init__(self, consumer: Consumer, topics: list[str], target: Target[T], dead: DeadLetters,
                 policy: FlushPolicy, batch_messages: int = 2000) -> None:
        self.consumer, self.target, self.dead, self.policy = consumer, target, dead, policy
        self.batch_messages = batch_messages
        self.batch: _Batch[T] = _Batch()
        self.rows_written = 0
        self.flushes = 0
        self._take_deferred: Callable[[], Callable[[], None] | None] | None = getattr(target, "take_deferred", None)
        self._pending: _Pending | None = None
        self._worker: ThreadPoolExecutor | None = None
        consumer.subscribe(topics, on_revoke=self._on_revoke, on_lost=self._on_lost)

    @property
    def dead_lettered(self) -> int:
        return self.dead.total

    def run(self, stop: threading.Event | None = None) -> None:
        """Consume and write until ``stop``; then write what is held and close."""
        stop = stop or threading.Event()
        first = min(0.5, self.policy.retry_max_s)
        delay = first
        try:
            while not stop.is_set():
                try:
                    self.poll_once()
                    delay = first
                except SinkError as exc:
                    log.error("%s: %s; retrying in %.1f s", self.target.name, exc, delay)
                    stop.wait(delay)
                    delay = min(delay * 2, self.policy.retry_max_s)
            self._final_flush()
        finally:
            self.close()

    def poll_once(self, timeout: float = 0.2) -> None:
        """Consume one round of messages (unless a write is due) and write when due."""
        self._settle(wait=False)  # commit the previous batch as soon as its deferred work is done
        if not self._due():
            msgs = [m for m in self.consumer.consume(num_messages=self.batch_messages, timeout=timeout)
                    if _usable(m)]
            for i, msg in enumerate(msgs):
                self._accept(msg)
                if self.batch.rows >= self.policy.rows:
                    try:
                        self.flush()
                    except SinkError:
                        for rest in msgs[i + 1:]:  # held with the failed batch, never left unread
                            self._accept(rest)
                        raise
        if self._due():
            self.flush()

    def _due(self) -> bool:
        b = self.batch
        return bool(b.offsets) and (b.rows >= self.policy.rows
                                    or time.monotonic() - b.since >= self.policy.ms / 1000)

    def _accept(self, msg: Message) -> None:
        self.batch.mark(msg)
        outcome = self.target.accept(msg)
        if isinstance(outcome, Row):
            self.batch.items.append(Item(msg, outcome.value, outcome.count))
            self.batch.rows += outcome.count
        elif isinstance(outcome, Invalid):
            self.dead.add(msg, outcome.reason)

    def flush(self, settle: bool = False) -> None:
        """Write the batch, then its dead letters, then commit its offsets (once the previous batch's and
        its own deferred work are done; with ``settle``, wait for them here)."""
        b = self.batch
        if not b.offsets:
            self._settle(wait=settle)
            return
        todo = b.items[b.written:]
        if todo:
            for msg, reason in self.target.write(todo):  # refusals count only once the write succeeded
                self.dead.add(msg, reason)
            b.written = len(b.items)
            deferred = self._take_deferred() if self._take_deferred is not None else None
            if deferred is not None:
                b.deferred.append(deferred)
            self.flushes += 1
            log.info("%s: wrote flush %d: %d rows from %d messages", self.target.name, self.flushes,
                     sum(i.count for i in todo), len(todo))
        self.dead.flush()
        self._settle(wait=True)  # the previous batch first: deferred work runs and commits in batch order
        if b.deferred:
            self._pending = _Pending(b.deferred, b.offsets, self._submit(b.deferred))
        else:
            self._commit(b.offsets)
        self.rows_written += b.rows
        self.batch = _Batch()
        if settle:
            self._settle(wait=True)

    def _submit(self, work: list[Callable[[], None]]) -> "Future[None]":
        if self._worker is None:
            self._worker = ThreadPoolExecutor(1, thread_name_prefix=f"{self.target.name}-deferred")
        return self._worker.submit(_run_all, work)

    def _settle(self, wait: bool) -> None:
        """Commit the pending batch once its deferred work is done; if that failed, run it again and raise
        SinkError (so nothing moves on until it succeeds)."""
        p = self._pending
        if p is None or (not wait and not p.future.done()):
            return
        try:
            p.future.result()
        except Exception as exc:  # noqa: BLE001 - any failure: the batch stays uncommitted and is finished again
            p.future = self._submit(p.work)
            raise SinkError(f"{self.target.name}: finishing a written batch failed: {exc}") from exc
        self._pending = None
        self._commit(p.offsets)

    def _commit(self, offsets: dict[tuple[str, int], int]) -> None:
        try:
            self.consumer.commit(offsets=[TopicPartition(t, p, o + 1) for (t, p), o in offsets.items()],
                                 asynchronous=False)
        except KafkaException as exc:  # a rebalance took the partitions: the new owner re-reads, writes dedup
            log.warning("%s: offset commit failed (%s); the new owner will re-read this batch",
                        self.target.name, exc)

    def _final_flush(self) -> None:
        try:
            self.flush(settle=True)
        except SinkError as exc:
            log.error("%s: could not write the last batch on stop (%s); it will be re-read", self.target.name, exc)

    def _on_revoke(self, _consumer: Consumer, _partitions: list[TopicPartition]) -> None:
        """Write what we hold before the partitions move, so the new owner does not redo it."""
        try:
            self.flush(settle=True)
        except SinkError as exc:
            log.warning("%s: could not write before rebalance (%s); the new owner will re-read",
                        self.target.name, exc)
            self._drop()

    def _on_lost(self, _consumer: Consumer, _partitions: list[TopicPartition]) -> None:
        """Partitions lost (session timed out): their offsets can no longer be committed by us."""
        log.warning("%s: partitions lost; dropping the unwritten batch for the new owner to re-read",
                    self.target.name)
        self._drop()

    def _drop(self) -> None:
        """Forget the unwritten batch and the uncommitted one (the new owner re-reads both); deferred work
        still running finishes first, so it never runs beside the new owner's."""
        if self._pending is not None:
            self._pending.future.exception()  # waits; a failure is the new owner's to redo
            self._pending = None
        self.batch = _Batch()
        self.dead.discard()

    def close(self) -> None:
        if self._worker is not None:
            self._worker.shutdown(wait=True)
        self.dead.close()
        self.consumer.close()


def _usable(msg: Message) -> bool:
    err = msg.error()
    if err is not None and err.code() != KafkaError._PARTITION_EOF:
        log.warning("consumer error: %s", err)
    return err is None


def batching_consumer(kafka: KafkaSettings, client: Client, *, group: str, topics: list[str], target: Target[T],
                      dlq_topic: str | None, policy: FlushPolicy) -> BatchingConsumer[T]:
    """A ``BatchingConsumer`` with the consumer role's client and dead letters to ``dlq_topic`` (if any)
    and to the ``dead_letters`` table of ``client``."""
    producer = clients.producer(kafka) if dlq_topic else None
    return BatchingConsumer(clients.consumer(kafka, group), topics, target,
                            DeadLetters(client, producer, dlq_topic), policy)

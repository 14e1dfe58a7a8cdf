"""The batching consume → buffer → write → commit loop, against an in-memory consumer (no broker).

The order is the guarantee: nothing is committed before the rows and dead
letters of its batch are written, a failed write holds the whole consumed
round and is retried with the same rows, and a revoke writes (or drops) what
is held.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import pytest
from confluent_kafka import KafkaException, TopicPartition

from meterstream.sinks.batching import SKIP, BatchingConsumer, FlushPolicy, Invalid, Item, Row, Skip
from meterstream.sinks.errors import SinkError


@dataclass
class Msg:
    _value: bytes | None
    _offset: int
    _partition: int = 0
    _topic: str = "t"

    def value(self) -> bytes | None:
        return self._value

    def key(self) -> bytes | None:
        return b"k"

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def error(self) -> None:
        return None


@dataclass
class FakeConsumer:
    """Hands out prepared rounds of messages; records commits; can fail a commit."""

    rounds: list[list[Msg]]
    commits: list[dict[tuple[str, int], int]] = field(default_factory=list)
    fail_commit: bool = False
    on_revoke: Callable[..., None] | None = None
    closed: bool = False

    def subscribe(self, topics: list[str], on_revoke: Any = None, on_lost: Any = None) -> None:
        self.on_revoke = on_revoke

    def consume(self, num_messages: int, timeout: float) -> list[Msg]:
        return self.rounds.pop(0) if self.rounds else []

    def commit(self, offsets: list[TopicPartition], asynchronous: bool) -> None:
        if self.fail_commit:
            raise KafkaException("rebalance in progress")
        self.commits.append({(tp.topic, tp.partition): tp.offset for tp in offsets})

    def close(self) -> None:
        self.closed = True


class Target:
    """b"bad..." is invalid, None is a tombstone, b"refuse" is refused by the store; ``fail`` writes fail."""

    name = "test"

    def __init__(self) -> None:
        self.written: list[list[bytes]] = []
        self.attempts: list[list[bytes]] = []
        self.fail = 0

    def accept(self, msg: Msg) -> Row[bytes] | Invalid | Skip:  # type: ignore[override]
        value = msg.value()
        if value is None:
            return SKIP
        if value.startswith(b"bad"):
            return Invalid(f"cannot read {value!r}")
        return Row(value, count=2)

    def write(self, items: Sequence[Item[bytes]]) -> list[tuple[Any, str]]:
        values = [i.value for i in items]
        self.attempts.append(values)
        if self.fail:
            self.fail -= 1
            raise SinkError("store down")
        self.written.append(values)
        return [(i.msg, "refused by store") for i in items if i.value == b"refuse"]


class Dead:
    def __init__(self) -> None:
        self.added: list[str] = []
        self.durable: list[str] = []
        self.fail = False
        self.total = 0

    def add(self, msg: Msg, reason: str) -> None:
        self.added.append(reason)

    def flush(self) -> None:
        if self.fail:
            raise SinkError("dlq down")
        self.durable += self.added
        self.total += len(self.added)
        self.added = []

    def discard(self) -> None:
        self.added = []

    def close(self) -> None:
        pass


def make(rounds: list[list[Msg]], rows: int = 4, ms: int = 60_000) -> tuple[BatchingConsumer[bytes], FakeConsumer,
                                                                          Target, Dead]:
    consumer, target, dead = FakeConsumer(rounds), Target(), Dead()
    loop = BatchingConsumer(consumer, ["t"], target, dead, FlushPolicy(rows, ms, 0.01))  # type: ignore[arg-type]
    return loop, consumer, target, dead


def msgs(*values: bytes | None, partition: int = 0, first: int = 0) -> list[Msg]:
    return [Msg(v, first + i, partition) for i, v in enumerate(values)]


def test_writes_at_the_row_count_then_commits_the_next_offset_per_partition() -> None:
    loop, consumer, target, _ = make([msgs(b"a", b"b", partition=0) + msgs(b"c", partition=1, first=7)])
    loop.poll_once()
    assert target.written == [[b"a", b"b"]]  # 2 messages x 2 rows reached the limit of 4
    assert consumer.commits == [{("t", 0): 2}]
    loop.flush()
    assert target.written[-1] == [b"c"] and consumer.commits[-1] == {("t", 1): 8}
    assert loop.rows_written == 6 and loop.flushes == 2


def test_writes_when_the_oldest_message_is_old_enough() -> None:
    loop, consumer, target, _ = make([msgs(b"a")], rows=100, ms=50)
    loop.poll_once()
    assert target.written == [] and consumer.commits == []
    time.sleep(0.06)
    loop.poll_once()
    assert target.written == [[b"a"]] and consumer.commits == [{("t", 0): 1}]


def test_a_failed_write_commits_nothing_and_holds_the_rest_of_the_round() -> None:
    loop, consumer, target, _ = make([msgs(b"a", b"b", b"c", b"d", b"e")])
    target.fail = 1
    try:
        loop.poll_once()
        raise AssertionError("the failed write must raise")
    except SinkError:
        pass
    assert consumer.commits == [] and target.written == []
    loop.flush()  # the retry writes the same rows plus the rest of the round, never leaves them unread
    assert target.attempts[0] == [b"a", b"b"] and target.written == [[b"a", b"b", b"c", b"d", b"e"]]
    assert consumer.commits == [{("t", 0): 5}]


def test_dead_letters_are_durable_before_the_commit() -> None:
    loop, consumer, target, dead = make([msgs(b"bad1", None, b"refuse", b"ok")], rows=100)
    dead.fail = True
    loop.poll_once()
    try:
        loop.flush()
        raise AssertionError("a dead-letter failure must raise")
    except SinkError:
        pass
    assert consumer.commits == []
    dead.fail = False
    loop.flush()
    assert sorted(dead.durable) == ["cannot read b'bad1'", "refused by store"]
    assert consumer.commits == [{("t", 0): 4}]  # the tombstone's offset advanced too


def test_refusals_of_a_failed_attempt_are_not_kept_twice() -> None:
    loop, consumer, target, dead = make([msgs(b"refuse", b"ok")], rows=100)
    loop.poll_once()
    target.fail = 1
    try:
        loop.flush()
    except SinkError:
        pass
    loop.flush()
    assert dead.durable == ["refused by store"] and consumer.commits == [{("t", 0): 2}]


def test_revoke_writes_what_is_held_or_drops_it_for_the_new_owner() -> None:
    loop, consumer, target, _ = make([msgs(b"a"), msgs(b"b", first=1)], rows=100)
    loop.poll_once()
    assert consumer.on_revoke is not None
    consumer.on_revoke(consumer, [TopicPartition("t", 0)])
    assert target.written == [[b"a"]] and consumer.commits == [{("t", 0): 1}]
    loop.poll_once()
    target.fail = 1
    consumer.on_revoke(consumer, [TopicPartition("t", 0)])
    assert loop.batch.items == [] and consumer.commits == [{("t", 0): 1}]


def test_a_failed_commit_is_survived() -> None:
    loop, consumer, target, _ = make([msgs(b"a", b"b")])
    consumer.fail_commit = True
    loop.poll_once()
    assert target.written == [[b"a", b"b"]] and loop.batch.items == []


def test_run_retries_with_capped_back_off_and_writes_on_stop() -> None:
    loop, consumer, target, _ = make([msgs(b"a", b"b")], rows=4)
    target.fail = 3
    stop = threading.Event()
    waits: list[float] = []
    real_wait = stop.wait

    def wait(delay: float) -> bool:
        waits.append(delay)
        return real_wait(0)
    stop.wait = wait  # type: ignore[method-assign]
    t = threading.Thread(target=loop.run, args=(stop,))
    t.start()
    deadline = time.monotonic() + 5
    while not target.written and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    t.join(5)
    assert target.written == [[b"a", b"b"]] and len(target.attempts) == 4
    assert waits == [0.01, 0.01, 0.01]  # 0.5 s capped by retry_max_s
    assert consumer.closed


class DeferringTarget(Target):
    """Leaves part of each write for later (as the usage target leaves its evidence leaves): ``gate`` holds it,
    ``fail_deferred`` makes it fail that many times; ``done`` records the batches finished, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.gate.set()
        self.fail_deferred = 0
        self.done: list[list[bytes]] = []
        self._last: list[bytes] | None = None

    def write(self, items: Sequence[Item[bytes]]) -> list[tuple[Any, str]]:
        refused = super().write(items)
        self._last = [i.value for i in items]
        return refused

    def take_deferred(self) -> Callable[[], None] | None:
        values, self._last = self._last, None
        if values is None:
            return None

        def finish() -> None:
            assert self.gate.wait(10)
            if self.fail_deferred:
                self.fail_deferred -= 1
                raise RuntimeError("evidence store down")
            self.done.append(values)
        return finish


def make_deferring(rounds: list[list[Msg]], rows: int = 4) -> tuple[BatchingConsumer[bytes], FakeConsumer,
                                                                     DeferringTarget]:
    consumer, target = FakeConsumer(rounds), DeferringTarget()
    loop = BatchingConsumer(consumer, ["t"], target, Dead(), FlushPolicy(rows, 60_000, 0.01))  # type: ignore[arg-type]
    return loop, consumer, target


def _until(what: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not what():
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_deferred_work_runs_beside_the_next_batch_and_commits_only_when_done() -> None:
    loop, consumer, target = make_deferring([msgs(b"a", b"b"), msgs(b"c", b"d", first=2)])
    target.gate.clear()
    loop.poll_once()  # batch 1 written; its deferred work waits on the gate
    assert target.written == [[b"a", b"b"]] and consumer.commits == []
    reader = threading.Thread(target=loop.poll_once)  # batch 2 is consumed and written meanwhile...
    reader.start()
    _until(lambda: len(target.written) == 2)
    assert consumer.commits == [] and target.done == []  # ...and nothing is committed before batch 1 is finished
    target.gate.set()
    reader.join(10)
    loop.flush(settle=True)
    assert target.done == [[b"a", b"b"], [b"c", b"d"]]  # in batch order
    assert consumer.commits == [{("t", 0): 2}, {("t", 0): 4}]


def test_failed_deferred_work_holds_the_commit_and_is_run_again() -> None:
    loop, consumer, target = make_deferring([msgs(b"a", b"b")])
    target.fail_deferred = 1
    loop.poll_once()
    _until(lambda: loop._pending is not None and loop._pending.future.done())  # noqa: SLF001
    with pytest.raises(SinkError, match="finishing a written batch failed"):
        loop.poll_once()
    assert consumer.commits == [] and target.written == [[b"a", b"b"]]  # written once; not committed
    loop.flush(settle=True)  # the work ran again and succeeded
    assert target.done == [[b"a", b"b"]] and consumer.commits == [{("t", 0): 2}]


def test_revoke_and_stop_wait_for_deferred_work() -> None:
    loop, consumer, target = make_deferring([msgs(b"a")], rows=100)
    loop.poll_once()
    target.gate.clear()
    threading.Timer(0.1, target.gate.set).start()
    assert consumer.on_revoke is not None
    consumer.on_revoke(consumer, [])  # writes the held batch and waits for its deferred work, then commits
    assert target.done == [[b"a"]] and consumer.commits == [{("t", 0): 1}]

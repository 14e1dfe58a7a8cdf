"""Reading a compacted topic as state: from its beginning to its end, then what arrives after.

License terms (license admin), webhook endpoints (every dispatcher) and
webhook delivery states (a dispatcher taking over partitions) are all kept
this way: the latest record per key is the value, a tombstone deletes it.
"""

from __future__ import annotations

import time
from typing import Iterator, Sequence

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Message, TopicPartition

from meterstream.config import KafkaSettings
from meterstream.errors import TopicError

from . import clients

CREATION_GRACE_S = 5.0


class CompactedReader:
    """An assign-only reader of some (default: all) partitions of one topic, from the beginning."""

    def __init__(self, kafka: KafkaSettings, topic: str, partitions: Sequence[int] | None = None,
                 timeout: float = 30.0) -> None:
        self.topic = topic
        self.timeout = timeout
        self._consumer = clients.reader(kafka)
        try:
            self.partitions = list(partitions) if partitions is not None else self._all_partitions()
            self._consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in self.partitions])
        except BaseException:
            self._consumer.close()
            raise

    def _all_partitions(self) -> list[int]:
        """The topic's partitions; a topic created a moment ago may take a few seconds to show in the
        metadata of every broker, so a missing topic is asked for again (briefly) before it is an error."""
        deadline = time.monotonic() + min(self.timeout, CREATION_GRACE_S)
        while True:
            meta = self._consumer.list_topics(self.topic, timeout=self.timeout).topics.get(self.topic)
            if meta is not None and meta.error is None and meta.partitions:
                return sorted(meta.partitions)
            if time.monotonic() > deadline:
                raise TopicError(f"topic {self.topic} does not exist (run `meterstream topics`)")
            time.sleep(0.2)

    def catch_up(self) -> Iterator[Message]:
        """Every record up to the end offsets as they are now (later records are left for ``poll``)."""
        ends = {p: high_watermark(self._consumer, TopicPartition(self.topic, p), self.timeout)
                for p in self.partitions}
        todo = {p for p, end in ends.items() if end > 0 and self._position(p) < end}
        deadline = time.monotonic() + self.timeout
        while todo:
            if time.monotonic() > deadline:
                raise TopicError(f"could not read {self.topic} partitions {sorted(todo)} to their end "
                                 f"within {self.timeout}s")
            for msg in self._consumer.consume(num_messages=1000, timeout=0.5):
                p, err = msg.partition() or 0, msg.error()
                if err is None:
                    yield msg
                    if (msg.offset() or 0) + 1 >= ends[p]:
                        todo.discard(p)
                elif err.code() == KafkaError._PARTITION_EOF:
                    todo.discard(p)

    def poll(self, timeout: float = 0.0) -> list[Message]:
        """Records that arrived since the last call (after ``catch_up``)."""
        return [m for m in self._consumer.consume(num_messages=1000, timeout=timeout) if m.error() is None]

    def _position(self, partition: int) -> int:
        pos = self._consumer.position([TopicPartition(self.topic, partition)])[0].offset
        return pos if pos >= 0 else 0

    def close(self) -> None:
        self._consumer.close()

    def __enter__(self) -> "CompactedReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_to_end(kafka: KafkaSettings, topic: str, partitions: Sequence[int] | None = None,
                timeout: float = 30.0) -> Iterator[Message]:
    """Every record of ``topic`` (or of some of its partitions) up to its current end, in offset order
    per partition."""
    with CompactedReader(kafka, topic, partitions, timeout) as reader:
        yield from reader.catch_up()


def latest(kafka: KafkaSettings, topic: str, key: bytes, partition: int, timeout: float = 30.0) -> bytes | None:
    """The latest value of ``key`` in its partition (None: never written, or deleted by a tombstone)."""
    value: bytes | None = None
    for msg in read_to_end(kafka, topic, [partition], timeout):
        if msg.key() == key:
            value = msg.value()
    return value


def partition_count(kafka: KafkaSettings, topic: str, timeout: float = 30.0) -> int:
    """Partitions of an existing topic; TopicError if it does not exist."""
    with CompactedReader(kafka, topic, timeout=timeout) as reader:
        return len(reader.partitions)


def high_watermark(consumer: Consumer, tp: TopicPartition, timeout: float = 30.0) -> int:
    """End offset of a partition, retried while a just-created topic has no leader yet."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return int(consumer.get_watermark_offsets(tp, timeout=min(timeout, 10.0))[1])
        except KafkaException as exc:
            if time.monotonic() > deadline:
                raise TopicError(f"cannot read the end offset of {tp.topic}[{tp.partition}]: {exc}") from exc
            time.sleep(0.2)

"""Publishing a few records to a topic and waiting until Kafka acknowledged every one.

For administrative writes (a price catalog, budgets), not event streams: one
idempotent producer, flushed before returning, an error naming the topic if
anything was not acknowledged.
"""

from __future__ import annotations

from typing import Any, Iterable

from meterstream.config import KafkaSettings
from meterstream.errors import TopicError

from . import clients


def publish_records(kafka: KafkaSettings, topic: str, records: Iterable[tuple[bytes, bytes | None]],
                    timeout: float = 30.0) -> int:
    """Produce ``(key, value)`` records to ``topic``; return how many; TopicError unless all were acknowledged."""
    producer = clients.producer(kafka)
    errors: list[Any] = []
    n = 0
    for key, value in records:
        while True:
            try:
                producer.produce(topic, value, key, on_delivery=lambda err, msg: errors.append(err) if err else None)
                break
            except BufferError:
                producer.poll(0.05)
        n += 1
    if producer.flush(timeout) or errors:
        raise TopicError(f"{len(errors) or 'some'} records to {topic} not acknowledged: {errors[:3] or 'timeout'}")
    return n

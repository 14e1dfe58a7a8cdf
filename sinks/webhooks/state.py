"""Durable delivery state: a compacted topic keyed by delivery id, partitioned like the alerts.

A delivery is recorded here (``pending``) before the alert's offset is
committed, and rewritten after every attempt; a dispatcher that takes over an
alert partition reloads that partition's records and resumes the pending ones.
Finished deliveries stay as small terminal records until retention removes
them, so a duplicated alert is recognised and not delivered twice.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any, Callable

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition

from meterstream.clock import micros, now_us
from meterstream.config import KafkaSettings
from meterstream.errors import MeterstreamError
from meterstream.schemas import RecordCodec

from .errors import WebhookError
from .topics import high_watermark

RETRY = "webhook_retry"
PENDING = "pending"


@dataclass(frozen=True)
class DeliveryState:
    delivery_id: str
    endpoint_id: str
    alert_id: str
    license_id: str
    payload: bytes
    attempts: int
    status: str
    next_at: int
    created_at: int
    updated_at: int

    @property
    def pending(self) -> bool:
        return self.status == PENDING

    def to_record(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    def advanced(self, **changes: Any) -> "DeliveryState":
        return replace(self, updated_at=now_us(), **changes)


class StateStore:
    """Writes states to, and reloads partitions from, the retry-state topic."""

    def __init__(self, kafka: KafkaSettings, topic: str, producer: Producer) -> None:
        self.kafka = kafka
        self.topic = topic
        self.codec = RecordCodec(RETRY)
        self.producer = producer

    def write(self, state: DeliveryState, partition: int,
              on_delivery: Callable[[KafkaError | None, Any], None] | None = None) -> None:
        self.producer.produce(self.topic, self.codec.encode(state.to_record()), state.delivery_id.encode(),
                              partition=partition, on_delivery=on_delivery)
        self.producer.poll(0)

    def load(self, partitions: list[int], timeout: float = 60.0) -> dict[int, dict[str, DeliveryState]]:
        """Latest state of every delivery in these partitions (read from the beginning to the end)."""
        out: dict[int, dict[str, DeliveryState]] = {p: {} for p in partitions}
        if not partitions:
            return out
        consumer = Consumer({**self.kafka.client_config(), "group.id": "unused-state-reader",
                             "enable.auto.commit": False, "enable.partition.eof": True})
        try:
            tps = [TopicPartition(self.topic, p) for p in partitions]
            ends = {p: high_watermark(consumer, tp) for p, tp in zip(partitions, tps)}
            todo = {p for p, end in ends.items() if end > 0}
            consumer.assign([TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in todo])
            deadline = time.monotonic() + timeout
            while todo:
                if time.monotonic() > deadline:
                    raise WebhookError(f"could not reload {self.topic} partitions {sorted(todo)} in {timeout}s")
                for msg in consumer.consume(num_messages=1000, timeout=0.5):
                    p, err = msg.partition() or 0, msg.error()
                    if err is None:
                        self._apply(out[p], msg.key(), msg.value())
                        if (msg.offset() or 0) + 1 >= ends[p]:
                            todo.discard(p)
                    elif err.code() == KafkaError._PARTITION_EOF:
                        todo.discard(p)
        finally:
            consumer.close()
        return out

    def _apply(self, states: dict[str, DeliveryState], key: bytes | None, value: bytes | None) -> None:
        if value is None:
            states.pop((key or b"").decode(), None)
            return
        try:
            rec = self.codec.decode(value)
        except MeterstreamError:
            return  # a record this version cannot read is not ours to act on
        for name in ("next_at", "created_at", "updated_at"):
            rec[name] = micros(rec[name])
        states[rec["delivery_id"]] = DeliveryState(**rec)

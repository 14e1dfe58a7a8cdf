"""Durable delivery state: a compacted topic keyed by delivery id, partitioned like the alerts.

A delivery is recorded here (``pending``) before the alert's offset is
committed, and rewritten after every attempt; a dispatcher that takes over an
alert partition reloads that partition's records and resumes the pending ones.
Finished deliveries stay as small terminal records until retention removes
them, so a duplicated alert is recognised and not delivered twice.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable

from confluent_kafka import KafkaError, Producer

from meterstream.clock import micros, now_us
from meterstream.config import KafkaSettings
from meterstream.errors import MeterstreamError, TopicError
from meterstream.kafka.compacted import read_to_end
from meterstream.schemas import RecordCodec

from .errors import WebhookError

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
        try:
            for msg in read_to_end(self.kafka, self.topic, partitions, timeout):
                self._apply(out[msg.partition() or 0], msg.key(), msg.value())
        except TopicError as exc:
            raise WebhookError(f"could not reload delivery states: {exc}") from exc
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

"""Where a delivery's outcomes are written: its new state, the delivery-log record, the dead letter.

The producer and the topic names stay behind this class, so the attempt
runner only says *what* happened. Writes are asynchronous Kafka produces;
``wait_acknowledged`` and ``dead_letter`` block until Kafka has them (call
them from a worker thread).
"""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import Producer

from meterstream.clock import now_us
from meterstream.kafka import dead_letters
from meterstream.schemas import RecordCodec

from .errors import WebhookError
from .sender import AttemptResult
from .state import DeliveryState, StateStore

log = logging.getLogger(__name__)
DELIVERY = "webhook_delivery"
FLUSH_TIMEOUT_S = 30


class DeliveryJournal:
    """Writes delivery states (retry-state topic), attempt records (delivery log) and dead letters."""

    def __init__(self, store: StateStore, producer: Producer, log_topic: str, dlq_topic: str) -> None:
        self._store = store
        self._producer = producer
        self._log_topic = log_topic
        self._dlq_topic = dlq_topic
        self._log_codec = RecordCodec(DELIVERY)

    def write_state(self, st: DeliveryState, partition: int) -> None:
        """The delivery's latest state, in the partition of its alert."""
        self._store.write(st, partition)

    def wait_acknowledged(self) -> None:
        """Blocking: wait (as long as it takes) until Kafka has acknowledged everything written so far."""
        while self._producer.flush(FLUSH_TIMEOUT_S) > 0:
            log.warning("Kafka has not acknowledged delivery states yet; alert offsets stay uncommitted")

    def log_attempt(self, st: DeliveryState, url: str, attempt: int, result: AttemptResult,
                    outcome: str, next_at: int | None) -> None:
        """One delivery-log record for one attempt (keyed by delivery id)."""
        at = now_us()
        record: dict[str, Any] = {
            "attempt_id": f"{st.delivery_id}/{attempt}/{at}", "delivery_id": st.delivery_id,
            "alert_id": st.alert_id, "endpoint_id": st.endpoint_id, "license_id": st.license_id,
            "attempt": attempt, "url": url, "status_code": result.status, "latency_us": result.latency_us,
            "error": result.error, "attempted_at": at, "outcome": outcome,
            "next_attempt_at": next_at}
        self._producer.produce(self._log_topic, self._log_codec.encode(record), st.delivery_id.encode())
        self._producer.poll(0)

    def dead_letter(self, st: DeliveryState, reason: str) -> None:
        """Blocking: the delivery's payload to the dead-letter topic, waiting up to 30 s for Kafka to have it.

        Raises WebhookError if Kafka has not acknowledged it: the terminal state must not be written before
        the dead letter is durable (the attempt is then postponed and decided again)."""
        self._producer.produce(self._dlq_topic, st.payload, st.delivery_id.encode(),
                               headers=dead_letters.headers(reason, delivery_id=st.delivery_id,
                                                            endpoint_id=st.endpoint_id, alert_id=st.alert_id))
        if self._producer.flush(FLUSH_TIMEOUT_S) > 0:
            raise WebhookError(f"dead letter of delivery {st.delivery_id} not acknowledged by Kafka")

"""Thin wrapper around the confluent-kafka producer: idempotent, acks=all, never drops on BufferError."""

from __future__ import annotations

import logging
from typing import Callable

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from meterstream.kafka import clients

from .settings import ProducerSettings

log = logging.getLogger(__name__)

OnDelivery = Callable[[KafkaError | None, Message], None]


def producer_config(s: ProducerSettings) -> dict[str, object]:
    """librdkafka settings of the meter's producer (the idempotent role, tuned for batches)."""
    return clients.producer_config(s, {
        "compression.type": s.compression,
        "linger.ms": 5,
        "batch.num.messages": 10_000,
        "delivery.timeout.ms": s.delivery_timeout_ms,
        "message.max.bytes": s.max_message_bytes + 64 * 1024,  # room for the record overhead
        # The spool holds everything unacknowledged, so librdkafka's own queue
        # needs to cover only a short outage before messages time out.
        "queue.buffering.max.kbytes": 256 * 1024,
        "queue.buffering.max.messages": 1_000_000,
    })


class Delivery:
    """Produces encoded batches keyed by license; delivery results come back through callbacks."""

    def __init__(self, settings: ProducerSettings, config: dict[str, object] | None = None) -> None:
        self.topic = settings.usage
        self._config = config or producer_config(settings)
        self._producer = Producer(self._config)

    def reset(self) -> None:
        """A fresh producer after a fatal error (the old one's undelivered messages stay in the spool)."""
        log.warning("recreating the Kafka producer after a fatal error")
        self._producer = Producer(self._config)

    def send(self, key: bytes, value: bytes, on_delivery: OnDelivery,
             headers: list[tuple[str, bytes]] | None = None) -> None:
        """Hand one message to librdkafka; when its queue is full, serve callbacks and retry."""
        while True:
            try:
                if headers:
                    hs: list[tuple[str, str | bytes | None]] = list(headers)
                    self._producer.produce(self.topic, value, key, on_delivery=on_delivery, headers=hs)
                else:
                    self._producer.produce(self.topic, value, key, on_delivery=on_delivery)
                return
            except BufferError:
                self._producer.poll(0.05)
            except KafkaException as exc:  # fatal idempotence error: the message stays spooled
                raise ConnectionError(f"Kafka producer failed: {exc}") from exc

    def poll(self, timeout: float = 0.0) -> int:
        """Serve delivery callbacks (they run on the calling thread)."""
        return self._producer.poll(timeout)

    def in_flight(self) -> int:
        """Messages handed to librdkafka and not yet reported."""
        return len(self._producer)

    def flush(self, timeout: float) -> int:
        """Wait for outstanding deliveries; the number still unreported."""
        return self._producer.flush(timeout)

"""Alerts topic -> new deliveries, recorded durably before the alert's offset is committed."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

from confluent_kafka import Consumer, KafkaException, Message, Producer, TopicPartition

from meterstream.clock import now_us
from meterstream.errors import MeterstreamError
from meterstream.kafka import clients, dead_letters
from meterstream.schemas import RecordCodec

from .endpoints import EndpointRegistry
from .payload import alert_body, delivery_id
from .settings import WebhookSettings
from .state import PENDING, DeliveryState

log = logging.getLogger(__name__)


@dataclass
class Assignment:
    """Partition changes reported by the consumer's rebalance callbacks, applied by the dispatcher."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    added: list[int] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)

    def take(self) -> tuple[list[int], list[int]]:
        with self.lock:
            added, removed = self.added, self.removed
            self.added, self.removed = [], []
        return added, removed


class AlertIntake:
    """Reads alerts; each one becomes a pending delivery per subscribed endpoint."""

    def __init__(self, settings: WebhookSettings, endpoints: EndpointRegistry, producer: Producer) -> None:
        self.settings = settings
        self.endpoints = endpoints
        self.producer = producer
        self.codec = RecordCodec("alert")
        self.assignment = Assignment()
        # Classic protocol: a killed dispatcher's partitions move after webhook_session_timeout_ms (the
        # KIP-848 protocol takes the session timeout from the broker, 45 s by default).
        self.consumer = clients.consumer(settings, settings.webhook_group,
                                         {"group.protocol": "classic",
                                          "session.timeout.ms": settings.webhook_session_timeout_ms})
        self.consumer.subscribe([settings.alerts], on_assign=self._on_assign, on_revoke=self._on_revoke,
                                on_lost=self._on_revoke)
        self.dead_letters = 0

    def _on_assign(self, _c: Consumer, parts: list[TopicPartition]) -> None:
        with self.assignment.lock:
            self.assignment.added.extend(tp.partition for tp in parts)

    def _on_revoke(self, _c: Consumer, parts: list[TopicPartition]) -> None:
        with self.assignment.lock:
            self.assignment.removed.extend(tp.partition for tp in parts)

    def poll(self, timeout: float) -> list[Message]:
        """Blocking: run it in a worker thread."""
        return [m for m in self.consumer.consume(num_messages=500, timeout=timeout) if m.error() is None]

    def deliveries(self, msg: Message, known: Mapping[str, str]) -> list[DeliveryState]:
        """New deliveries for one alert message; undecodable messages go to the dead-letter topic."""
        try:
            alert = self.codec.decode(msg.value() or b"")
            body = alert_body(alert)
        except (MeterstreamError, KeyError, TypeError, ValueError) as exc:
            self.dead_letter(msg, f"undecodable alert: {exc}")
            return []
        out = []
        t = now_us()
        for ep in self.endpoints.endpoints.values():
            if not ep.matches(alert):
                continue
            did = delivery_id(ep.endpoint_id, alert["alert_id"])
            if did in known:
                continue  # the same alert again (processor redelivery): one delivery per endpoint
            out.append(DeliveryState(did, ep.endpoint_id, alert["alert_id"], alert.get("license_id", ""),
                                     body, 0, PENDING, t, t, t))
        return out

    def dead_letter(self, msg: Message, reason: str) -> None:
        self.dead_letters += 1
        log.warning("dead-lettering %s[%d]@%d: %s", msg.topic(), msg.partition(), msg.offset(), reason)
        self.producer.produce(self.settings.webhook_dlq, msg.value(), msg.key(),
                              headers=dead_letters.headers(reason, msg.topic(), msg.partition(), msg.offset()))
        self.producer.poll(0)

    def commit(self, msgs: list[Message]) -> None:
        """Blocking: commit after the states of these messages are acknowledged by Kafka."""
        last: dict[int, int] = {}
        for m in msgs:
            p, o = m.partition() or 0, m.offset() or 0
            last[p] = max(last.get(p, -1), o)
        try:
            self.consumer.commit(offsets=[TopicPartition(self.settings.alerts, p, o + 1) for p, o in last.items()],
                                 asynchronous=False)
        except KafkaException as exc:  # partition revoked meanwhile: its new owner re-reads and dedups
            log.warning("offset commit failed (%s); the alerts will be re-read and recognised", exc)

    def close(self) -> None:
        self.consumer.close()

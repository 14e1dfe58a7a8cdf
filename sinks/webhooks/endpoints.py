"""The endpoint registry: a compacted topic (key = endpoint id) read by every dispatcher and the CLI."""

from __future__ import annotations

import datetime as dt
import logging
import secrets as _random
import time
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from meterstream.clock import micros, now_us
from meterstream.config import KafkaSettings
from meterstream.schemas import RecordCodec
from meterstream.errors import MeterstreamError

from .errors import EndpointNotFound, WebhookError
from .settings import WebhookTopics
from .topics import high_watermark

log = logging.getLogger(__name__)
ENDPOINT = "webhook_endpoint"


@dataclass
class Endpoint:
    """One subscriber. Empty filters match everything."""

    endpoint_id: str
    url: str
    description: str = ""
    license_ids: list[str] = field(default_factory=list)
    tenants: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    enabled: bool = True
    disabled_reason: str = ""
    secrets: list[dict[str, Any]] = field(default_factory=list)
    updated_at: int = 0

    @staticmethod
    def new_id() -> str:
        return "ep_" + _random.token_hex(8)

    def matches(self, alert: dict[str, Any]) -> bool:
        """Subscribed to this alert: enabled, and every non-empty filter contains the alert's value."""
        return (self.enabled
                and (not self.license_ids or alert.get("license_id") in self.license_ids)
                and (not self.tenants or alert.get("tenant") in self.tenants)
                and (not self.kinds or alert.get("kind") in self.kinds))

    def live_ciphertexts(self, at_us: int | None = None) -> list[str]:
        """Encrypted secrets that still sign (an old secret signs until its expiry)."""
        t = now_us() if at_us is None else at_us
        return [s["ciphertext"] for s in self.secrets if s.get("expires_at") is None or s["expires_at"] > t]

    def to_record(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> "Endpoint":
        fields = {k: rec[k] for k in cls.__dataclass_fields__}
        fields["updated_at"] = micros(fields["updated_at"])
        fields["secrets"] = [{**s, "created_at": micros(s["created_at"]), "expires_at": micros(s["expires_at"])}
                             for s in fields["secrets"]]
        return cls(**fields)


class EndpointRegistry:
    """In-memory view of the endpoints topic; ``refresh()`` applies new records, ``put()`` writes one."""

    def __init__(self, kafka: KafkaSettings, topics: WebhookTopics) -> None:
        self.topic = topics.webhook_endpoints
        self.codec = RecordCodec(ENDPOINT)
        self.endpoints: dict[str, Endpoint] = {}
        self._producer = Producer({**kafka.client_config(), "enable.idempotence": True, "acks": "all"})
        self._consumer = Consumer({**kafka.client_config(), "group.id": "unused-endpoint-reader",
                                   "enable.auto.commit": False, "enable.partition.eof": False})
        parts = self._consumer.list_topics(self.topic, timeout=30).topics[self.topic].partitions
        self._partitions = sorted(parts)
        self._consumer.assign([TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in self._partitions])
        self.load()

    def load(self, timeout: float = 30.0) -> None:
        """Read up to the current end of the topic (the registry is complete after this)."""
        ends = {p: high_watermark(self._consumer, TopicPartition(self.topic, p), timeout) for p in self._partitions}
        deadline = time.monotonic() + timeout
        while any(self._position(p) < end for p, end in ends.items()):
            if time.monotonic() > deadline:
                raise WebhookError(f"could not read {self.topic} to its end within {timeout}s")
            self.refresh(0.2)

    def _position(self, partition: int) -> int:
        pos = self._consumer.position([TopicPartition(self.topic, partition)])[0].offset
        return pos if pos >= 0 else 0

    def refresh(self, timeout: float = 0.0) -> int:
        """Apply records that arrived since the last call; return how many."""
        msgs = self._consumer.consume(num_messages=1000, timeout=timeout)
        for msg in msgs:
            if msg.error() is not None:
                continue
            key = (msg.key() or b"").decode()
            if msg.value() is None:
                self.endpoints.pop(key, None)
                continue
            try:
                self.endpoints[key] = Endpoint.from_record(self.codec.decode(msg.value()))
            except (MeterstreamError, KeyError, TypeError) as exc:
                log.error("ignoring undecodable endpoint record %s: %s", key, exc)
        return len(msgs)

    def get(self, endpoint_id: str) -> Endpoint:
        try:
            return self.endpoints[endpoint_id]
        except KeyError:
            raise EndpointNotFound(f"no webhook endpoint {endpoint_id!r}") from None

    def put(self, endpoint: Endpoint) -> None:
        """Write the endpoint's new version and wait until Kafka has it."""
        endpoint.updated_at = now_us()
        self._producer.produce(self.topic, self.codec.encode(endpoint.to_record()), endpoint.endpoint_id.encode())
        self._flush()
        self.endpoints[endpoint.endpoint_id] = endpoint

    def delete(self, endpoint_id: str) -> None:
        self.get(endpoint_id)
        self._producer.produce(self.topic, None, endpoint_id.encode())
        self._flush()
        self.endpoints.pop(endpoint_id, None)

    def _flush(self) -> None:
        if self._producer.flush(30) > 0:
            raise WebhookError(f"could not write to {self.topic}: Kafka did not acknowledge within 30s")

    def close(self) -> None:
        self._producer.flush(30)
        self._consumer.close()

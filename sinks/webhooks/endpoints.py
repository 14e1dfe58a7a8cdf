"""The endpoint registry: a compacted topic (key = endpoint id) read by every dispatcher and the CLI."""

from __future__ import annotations

import logging
import secrets as _random
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Message

from meterstream.clock import micros, now_us
from meterstream.config import KafkaSettings, Topics
from meterstream.schemas import RecordCodec
from meterstream.errors import MeterstreamError, TopicError
from meterstream.kafka import clients
from meterstream.kafka.compacted import CompactedReader

from .errors import EndpointNotFound, WebhookError

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

    def __init__(self, kafka: KafkaSettings, topics: Topics) -> None:
        self.topic = topics.webhook_endpoints
        self.codec = RecordCodec(ENDPOINT)
        self.endpoints: dict[str, Endpoint] = {}
        self._producer = clients.producer(kafka)
        self._reader = CompactedReader(kafka, self.topic)
        self.load()

    def load(self) -> None:
        """Read up to the current end of the topic (the registry is complete after this)."""
        try:
            self._apply(list(self._reader.catch_up()))
        except TopicError as exc:
            raise WebhookError(str(exc)) from exc

    def refresh(self, timeout: float = 0.0) -> int:
        """Apply records that arrived since the last call; return how many."""
        return self._apply(self._reader.poll(timeout))

    def _apply(self, msgs: list[Message]) -> int:
        for msg in msgs:
            key = (msg.key() or b"").decode()
            value = msg.value()
            if value is None:
                self.endpoints.pop(key, None)
                continue
            try:
                self.endpoints[key] = Endpoint.from_record(self.codec.decode(value))
            except (MeterstreamError, KeyError, TypeError) as exc:
                log.error("ignoring undecodable endpoint record %s: %s", key, exc)
        return len(msgs)

    def get(self, endpoint_id: str) -> Endpoint:
        try:
            return self.endpoints[endpoint_id]
        except KeyError:
            raise EndpointNotFound(f"no webhook endpoint {endpoint_id!r}") from None

    def find(self, endpoint_id: str) -> Endpoint | None:
        """The endpoint, or None if there is none with this id (``get`` raises instead)."""
        return self.endpoints.get(endpoint_id)

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
        self._reader.close()

"""Create, update, suspend, revoke and delete licenses by publishing to the licenses topic.

The compacted licenses topic is the source of truth (key = license id, value =
the License Avro record, a tombstone deletes). Reads go to the one partition
the key lives on, from the beginning to the high watermark, so an update
always starts from the latest published terms.
"""

from __future__ import annotations

import secrets
from typing import Any

from confluent_kafka import Producer

from meterstream.clock import now_us
from meterstream.config import KafkaSettings, Topics
from meterstream.errors import TopicError
from meterstream.kafka import clients
from meterstream.kafka.compacted import latest, partition_count
from meterstream.kafka.partitioner import partition_for
from meterstream.schemas import RecordCodec

from ..errors import LicenseNotFoundError, ProcessorError
from .terms import LicenseTerms, hash_key


def new_key() -> str:
    """A random license key (32 URL-safe characters, 192 bits)."""
    return secrets.token_urlsafe(24)


class LicenseAdmin:
    """Python API behind ``meterstream license ...``."""

    def __init__(self, kafka: KafkaSettings | None = None, topics: Topics | None = None, timeout: float = 30.0) -> None:
        self.kafka = kafka or KafkaSettings()
        self.topics = topics or Topics()
        self.timeout = timeout
        self.codec = RecordCodec("license")
        self._producer: Producer | None = None

    # -- writes -------------------------------------------------------------

    def create(self, terms: LicenseTerms, key: str | None = None) -> tuple[LicenseTerms, str]:
        """Publish a new license; return its terms and the license key (shown once, stored hashed).

        The purchase time (where maintenance windows count from) is now unless the terms give one.
        """
        if self.find(terms.license_id) is not None:
            raise ProcessorError(f"license {terms.license_id} already exists (use update)")
        key = key or new_key()
        h = hash_key(key)
        published = self.publish(terms.with_changes(key_hash=h, key_hashes=(h,),
                                                    purchased_at_us=terms.purchased_at_us or now_us()))
        return published, key

    def rotate_key(self, license_id: str, key: str | None = None) -> tuple[LicenseTerms, str]:
        """Start a rotation: the license accepts a new key beside its current one; return the new key.

        Both keys work until ``retire_key``; the new key becomes the primary.
        """
        terms = self.get(license_id)
        key = key or new_key()
        h = hash_key(key)
        old = tuple(x for x in terms.accepted_key_hashes if x != h)[:1]
        return self.publish(terms.with_changes(key_hash=h, key_hashes=(h, *old))), key

    def retire_key(self, license_id: str) -> LicenseTerms:
        """End a rotation: only the newest key is accepted from now on."""
        terms = self.get(license_id)
        return self.publish(terms.with_changes(key_hashes=(terms.key_hash,) if terms.key_hash else ()))

    def update(self, license_id: str, **changes: Any) -> LicenseTerms:
        """Change some terms of an existing license (fields of LicenseTerms)."""
        return self.publish(self.get(license_id).with_changes(**changes))

    def suspend(self, license_id: str) -> LicenseTerms:
        return self.update(license_id, status="suspended")

    def reactivate(self, license_id: str) -> LicenseTerms:
        return self.update(license_id, status="active")

    def revoke(self, license_id: str) -> LicenseTerms:
        """Revoked is final in intent: the record stays so its use is flagged, not forgotten."""
        return self.update(license_id, status="revoked")

    def delete(self, license_id: str) -> None:
        """Tombstone: the license is forgotten; later use is reported as an unknown license."""
        self.get(license_id)
        self._send(license_id, None)

    def publish(self, terms: LicenseTerms) -> LicenseTerms:
        stamped = terms.with_changes(updated_at_us=now_us())
        self._send(stamped.license_id, self.codec.encode(stamped.to_record()))
        return stamped

    def publish_many(self, many: list[LicenseTerms]) -> int:
        """Publish many licenses' terms as they are (bulk import; no existence check); return the count."""
        errors: list[Any] = []
        producer = self._get_producer()
        now = now_us()
        for terms in many:
            value = self.codec.encode(terms.with_changes(updated_at_us=now).to_record())
            while True:
                try:
                    producer.produce(self.topics.licenses, value, terms.license_id.encode(),
                                     on_delivery=lambda err, msg: errors.append(err) if err else None)
                    break
                except BufferError:
                    producer.poll(0.05)
            producer.poll(0)
        if producer.flush(self.timeout) or errors:
            raise ProcessorError(f"{len(errors) or 'some'} license records not acknowledged: {errors[:3]}")
        return len(many)

    def _send(self, license_id: str, value: bytes | None) -> None:
        errors: list[Any] = []
        producer = self._get_producer()
        producer.produce(self.topics.licenses, value, license_id.encode(),
                         on_delivery=lambda err, msg: errors.append(err) if err else None)
        if producer.flush(self.timeout) or errors:
            raise ProcessorError(f"license {license_id} not acknowledged by Kafka: {errors or 'timeout'}")

    def _get_producer(self) -> Producer:
        if self._producer is None:
            self._producer = clients.producer(self.kafka)
        return self._producer

    # -- reads --------------------------------------------------------------

    def get(self, license_id: str) -> LicenseTerms:
        terms = self.find(license_id)
        if terms is None:
            raise LicenseNotFoundError(f"no license {license_id} on {self.topics.licenses}")
        return terms

    def find(self, license_id: str) -> LicenseTerms | None:
        """The latest terms of ``license_id`` on the topic, or None (never published or deleted)."""
        key = license_id.encode()
        try:
            partition = partition_for(key, partition_count(self.kafka, self.topics.licenses, self.timeout))
            value = latest(self.kafka, self.topics.licenses, key, partition, self.timeout)
        except TopicError as exc:
            raise ProcessorError(f"cannot read {self.topics.licenses}: {exc}") from exc
        return None if value is None else LicenseTerms.from_record(self.codec.decode(value))

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush(self.timeout)
            self._producer = None

    def __enter__(self) -> "LicenseAdmin":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

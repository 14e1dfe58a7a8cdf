"""librdkafka client configuration, built in one place per role.

Every client meterstream creates comes from here, so the connection and
security settings, the durability settings of each role and the routing of
librdkafka's own log (through Python ``logging``, never raw ``%N|…`` lines on
a terminal) are the same everywhere.

Roles:

* ``producer``: idempotent, ``acks=all`` (nothing acknowledged can be lost or
  duplicated by a broker failover); callers add tuning such as ``linger.ms``.
* ``consumer``: a member of a consumer group that commits offsets itself,
  only after its work is durable (``enable.auto.commit=false``), starting at
  the earliest offset of a new group. It speaks the KIP-848 group protocol
  (``group.protocol=consumer``, ``kafka_group_protocol``) unless the caller
  asks for ``classic`` (the webhook intake: its failover needs a client-side
  ``session.timeout.ms``, which the new protocol refuses): with the classic
  one, a broker down longer than the session timeout left the group waiting
  ~45 s for the member's forgotten incarnation before the sink consumed again
  (tests/sinks/test_broker_restart.py).
* ``reader``: an assign-only consumer that reads topics without a group
  (compacted topics read to their end); it never commits.
* ``admin``: topic creation and metadata.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from confluent_kafka import Consumer, KafkaError, Producer
from confluent_kafka.admin import AdminClient

from meterstream.config import KafkaSettings

Config = dict[str, Any]

LIBRDKAFKA_LOG = logging.getLogger("meterstream.kafka.librdkafka")
log = logging.getLogger(__name__)


def _log_error(err: KafkaError) -> None:
    """librdkafka reports transient errors (broker down, retrying) here; only fatal ones are errors."""
    if err.fatal():
        log.error("fatal Kafka client error: %s", err)
    else:
        log.info("Kafka client: %s", err)


def base_config(kafka: KafkaSettings) -> Config:
    """Connection, security and logging settings shared by every role."""
    return {**kafka.client_config(), "logger": LIBRDKAFKA_LOG, "error_cb": _log_error}


def producer_config(kafka: KafkaSettings, extra: Config | None = None) -> Config:
    """An idempotent ``acks=all`` producer; ``extra`` adds or overrides librdkafka settings."""
    return {**base_config(kafka), "enable.idempotence": True, "acks": "all", **(extra or {})}


def consumer_config(kafka: KafkaSettings, group: str, extra: Config | None = None) -> Config:
    """A group member that commits its offsets itself, after the work is durable."""
    return {**base_config(kafka), "group.id": group, "group.protocol": kafka.kafka_group_protocol,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest", "enable.partition.eof": False, **(extra or {})}


def reader_config(kafka: KafkaSettings) -> Config:
    """An assign-only reader: no group membership, no commits, partition EOF reported."""
    return {**base_config(kafka), "group.id": f"meterstream-reader-{uuid.uuid4().hex[:12]}",
            "enable.auto.commit": False, "enable.partition.eof": True}


def producer(kafka: KafkaSettings, extra: Config | None = None) -> Producer:
    return Producer(producer_config(kafka, extra))


def consumer(kafka: KafkaSettings, group: str, extra: Config | None = None) -> Consumer:
    return Consumer(consumer_config(kafka, group, extra))


def reader(kafka: KafkaSettings) -> Consumer:
    return Consumer(reader_config(kafka))


def admin(kafka: KafkaSettings) -> AdminClient:
    return AdminClient(base_config(kafka))

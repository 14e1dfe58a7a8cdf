"""Creates the dispatcher's topics with the right cleanup policy and partitioning."""

from __future__ import annotations

import time

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from meterstream.config import KafkaSettings

from .errors import WebhookError
from .settings import WebhookSettings, WebhookTopics


def alert_partitions(admin: AdminClient, topics: WebhookTopics, timeout: float = 30.0) -> int:
    """Partitions of the alerts topic (the retry-state topic must have as many)."""
    meta = admin.list_topics(topics.alerts, timeout=timeout).topics.get(topics.alerts)
    if meta is None or meta.error is not None or not meta.partitions:
        return topics.partitions
    return len(meta.partitions)


def high_watermark(consumer: Consumer, tp: TopicPartition, timeout: float = 30.0) -> int:
    """End offset of a partition, retried while a just-created topic has no leader yet."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return int(consumer.get_watermark_offsets(tp, timeout=min(timeout, 10.0))[1])
        except KafkaException as exc:
            if time.monotonic() > deadline:
                raise WebhookError(f"cannot read the end offset of {tp.topic}[{tp.partition}]: {exc}") from exc
            time.sleep(0.2)


def ensure_webhook_topics(kafka: KafkaSettings, topics: WebhookTopics, retention_s: float | None = None,
                          timeout: float = 30.0) -> None:
    """Create the endpoints (compacted), retry-state (compacted + retention), log and DLQ topics.

    The retry-state topic is partitioned like the alerts topic: a delivery's
    state lives in the partition number of its alert, so the dispatcher that
    owns an alert partition reloads exactly the retries of that partition.
    """
    admin = AdminClient(dict(kafka.client_config()))
    retention = retention_s if retention_s is not None else WebhookSettings.model_fields[
        "webhook_state_retention_s"].default
    wanted = [
        NewTopic(topics.webhook_endpoints, 1, 1, config={"cleanup.policy": "compact"}),
        NewTopic(topics.webhook_retries, alert_partitions(admin, topics, timeout), 1,
                 config={"cleanup.policy": "compact,delete", "retention.ms": str(int(retention * 1000))}),
        NewTopic(topics.webhook_deliveries, topics.partitions, 1),
        NewTopic(topics.webhook_dlq, topics.partitions, 1),
    ]
    existing = set(admin.list_topics(timeout=timeout).topics)
    new = [t for t in wanted if t.topic not in existing]
    if not new:
        return
    for name, fut in admin.create_topics(new, operation_timeout=timeout).items():
        try:
            fut.result(timeout)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise WebhookError(f"cannot create topic {name}: {exc}") from exc

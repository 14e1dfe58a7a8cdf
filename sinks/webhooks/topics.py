"""Creates the dispatcher's topics with the right cleanup policy and partitioning."""

from __future__ import annotations

from confluent_kafka import KafkaError, KafkaException
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

"""Creates meterstream's topics (idempotently) with the right partitioning and cleanup policy."""

from __future__ import annotations

import logging

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from .config import KafkaSettings, Topics
from .errors import MeterstreamError

log = logging.getLogger(__name__)


def ensure_topics(kafka: KafkaSettings, topics: Topics, replication: int = 1, timeout: float = 30.0) -> list[str]:
    """Create any missing topic; return the names that were created.

    Licenses and prices are compacted (latest value per key is the state);
    everything else is deleted by retention. All topics share one partition
    count because Faust joins co-partitioned streams and tables.
    """
    admin = AdminClient(kafka.client_config())
    existing = set(admin.list_topics(timeout=timeout).topics)
    new = []
    for name in topics.all():
        if name in existing:
            continue
        config = {"cleanup.policy": "compact"} if name in topics.compacted() else {}
        new.append(NewTopic(name, num_partitions=topics.partitions, replication_factor=replication, config=config))
    if not new:
        return []
    created = []
    for name, fut in admin.create_topics(new, operation_timeout=timeout).items():
        try:
            fut.result(timeout)
            created.append(name)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise MeterstreamError(f"cannot create topic {name}: {exc}") from exc
    log.info("created topics %s", created)
    return created

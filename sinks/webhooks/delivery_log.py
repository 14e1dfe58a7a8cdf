"""``webhook.deliveries`` topic -> ClickHouse ``webhook_deliveries``: every attempt on record.

The dispatcher never opens ClickHouse (an embedded chDB path has one owner,
the sink process); it produces one record per attempt, and this consumer, run
inside the sink process like the alerts and licenses consumers, inserts them
in batches and commits offsets only after the insert. Duplicates are absorbed
by the insert token and by ReplacingMergeTree on ``attempt_id``.
"""

from __future__ import annotations

from typing import Any

from clickhouse_connect.driver.client import Client

from ..batching import BatchingConsumer
from ..record_sink import RecordTarget, record_sink
from ..settings import SinkSettings

COLUMNS = ["attempt_id", "delivery_id", "alert_id", "endpoint_id", "license_id", "attempt", "url",
           "status_code", "latency_us", "error", "attempted_at", "outcome", "next_attempt_at"]
TABLE = "webhook_deliveries"


def attempt_row(rec: dict[str, Any]) -> list[Any]:
    return [rec[c] for c in COLUMNS]  # aware datetimes: inserted as UTC whatever TZ is


def delivery_log_sink(settings: SinkSettings, client: Client) -> BatchingConsumer[list[Any]]:
    """The delivery-log consumer (group ``<sink_group>.webhooks``; dead letters to the webhook DLQ)."""
    target = RecordTarget(client, subject="webhook_delivery", table=TABLE, columns=COLUMNS, row=attempt_row,
                          what="delivery log")
    return record_sink(settings, client, topic=settings.webhook_deliveries, group_suffix="webhooks",
                       dlq_topic=settings.webhook_dlq, target=target)

-- The webhook delivery log: one row per HTTP attempt (status, latency, error,
-- outcome), written by DeliveryLogSink from the webhook.deliveries topic.
--
-- Engine: ReplacingMergeTree on the attempt identity. attempt_id is unique per
-- attempt (delivery id / attempt number / attempt time), so a log record that
-- reaches ClickHouse twice (the sink retried a flush, or was restarted before
-- committing) collapses to one row at merge time; inserts are also
-- deduplicated by token, so queries see no duplicates even before a merge.
-- ORDER BY (endpoint_id, delivery_id, attempt_id): the questions asked are
-- "how is this endpoint doing" and "what happened to this delivery"; both read
-- one contiguous range. attempt_id last makes the key unique per attempt.
-- PARTITION BY month of the attempt: retention drops whole months.
CREATE TABLE IF NOT EXISTS webhook_deliveries
(
    attempt_id      String,
    delivery_id     String,
    alert_id        String,
    endpoint_id     LowCardinality(String),
    license_id      LowCardinality(String),
    attempt         UInt16,
    url             String,
    status_code     Nullable(UInt16),
    latency_us      Int64,
    error           Nullable(String),
    attempted_at    DateTime64(6, 'UTC'),
    outcome         LowCardinality(String),
    next_attempt_at Nullable(DateTime64(6, 'UTC')),
    ingested_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(attempted_at)
ORDER BY (endpoint_id, delivery_id, attempt_id)
SETTINGS non_replicated_deduplication_window = 10000;

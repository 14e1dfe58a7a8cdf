-- Staging: each flush lands here first, then ONE insert-select moves only the
-- events whose id is not yet in usage_events into usage_events (with price
-- and cost). That single statement is what fires the rollup views, so the
-- rollups see every event exactly once, whether a duplicate comes from the
-- sink re-reading messages after a crash (batch boundaries may differ) or from
-- a producer replaying its spool with the same event ids in new messages.
--
-- Engine: MergeTree PARTITION BY flush_id, so the sink drops its flush's data
-- with one cheap DROP PARTITION once it has been moved; a flush abandoned by a
-- crash is simply re-read from Kafka under a new flush id, and the TTL clears
-- the orphan. ORDER BY (license_id, event_time): the order the move reads in.
CREATE TABLE IF NOT EXISTS usage_staging
(
    flush_id        UInt64,
    event_id        UUID,
    event_time      DateTime64(6, 'UTC'),
    license_id      LowCardinality(String),
    producer_id     String,
    sequence        Int64,
    feature         LowCardinality(String),
    model           LowCardinality(String),
    model_version   LowCardinality(String),
    metric          LowCardinality(String),
    quantity        Decimal(18, 6),
    status          LowCardinality(String),
    latency_us      Nullable(Int64),
    team            LowCardinality(String),
    app             LowCardinality(String),
    environment     LowCardinality(String),
    purpose         LowCardinality(String),
    hardware_id     LowCardinality(String),
    region          LowCardinality(String),
    input_hash      Nullable(String),
    output_hash     Nullable(String),
    kafka_partition Int32,
    kafka_offset    Int64,
    staged_at       DateTime DEFAULT now()
)
ENGINE = MergeTree
PARTITION BY flush_id
ORDER BY (license_id, event_time)
TTL staged_at + INTERVAL 1 DAY;

CREATE MATERIALIZED VIEW IF NOT EXISTS usage_batches_mv TO usage_staging AS
SELECT flush_id, event_id, event_time, license_id, producer_id, sequence, feature, model, model_version,
       metric, quantity, status, latency_us, team, app, environment, purpose, hardware_id, region,
       input_hash, output_hash, kafka_partition, kafka_offset
FROM usage_batches_in
ARRAY JOIN event_id, event_time, license_id, producer_id, sequence, feature, model, model_version,
           metric, quantity, status, latency_us, team, app, environment, purpose, hardware_id, region,
           input_hash, output_hash;

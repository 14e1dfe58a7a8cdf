-- The audit trail: every usage event with every field, hashes included.
--
-- Engine: ReplacingMergeTree keyed on the event identity, so an event that
-- reaches ClickHouse twice (a producer replaying its spool, a sink retrying a
-- batch) collapses to one row at merge time; inserts are also deduplicated
-- by token (see the sink), so queries see no duplicates even before a merge.
-- ORDER BY (license_id, event_time, event_id): nearly every question is "this
-- license over that time range"; event_id last makes the key unique per event.
-- PARTITION BY month: retention drops whole months; range scans prune by month.
CREATE TABLE IF NOT EXISTS usage_events
(
    event_id      UUID,
    event_time    DateTime64(6, 'UTC'),
    license_id    LowCardinality(String),
    producer_id   String,
    sequence      Int64,
    feature       LowCardinality(String),
    model         LowCardinality(String),
    model_version LowCardinality(String),
    metric        LowCardinality(String),
    quantity      Decimal(18, 6),
    status        LowCardinality(String),
    latency_us    Nullable(Int64),
    team          LowCardinality(String),
    app           LowCardinality(String),
    environment   LowCardinality(String),
    purpose       LowCardinality(String),
    hardware_id   LowCardinality(String),
    region        LowCardinality(String),
    input_hash    Nullable(String),
    output_hash   Nullable(String),
    ingested_at   DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (license_id, event_time, event_id)
SETTINGS non_replicated_deduplication_window = 10000;

-- Landing table for the sink's Avro inserts: one row per Kafka message, one
-- array per event field (the wire format is columnar). Engine Null: nothing is
-- stored here; the materialized view below unrolls each row into events.
CREATE TABLE IF NOT EXISTS usage_batches_in
(
    event_id      Array(UUID),
    event_time    Array(DateTime64(6, 'UTC')),
    license_id    Array(String),
    producer_id   Array(String),
    sequence      Array(Int64),
    feature       Array(String),
    model         Array(String),
    model_version Array(String),
    metric        Array(String),
    quantity      Array(Decimal(18, 6)),
    status        Array(String),
    latency_us    Array(Nullable(Int64)),
    team          Array(String),
    app           Array(String),
    environment   Array(String),
    purpose       Array(String),
    hardware_id   Array(String),
    region        Array(String),
    input_hash    Array(Nullable(String)),
    output_hash   Array(Nullable(String))
)
ENGINE = Null;

CREATE MATERIALIZED VIEW IF NOT EXISTS usage_batches_mv TO usage_events AS
SELECT event_id, event_time, license_id, producer_id, sequence, feature, model, model_version,
       metric, quantity, status, latency_us, team, app, environment, purpose, hardware_id, region,
       input_hash, output_hash
FROM usage_batches_in
ARRAY JOIN event_id, event_time, license_id, producer_id, sequence, feature, model, model_version,
           metric, quantity, status, latency_us, team, app, environment, purpose, hardware_id, region,
           input_hash, output_hash;

-- The audit trail: every usage event with every field, hashes included, its
-- price and exact cost, and where it came from in Kafka.
--
-- Engine: ReplacingMergeTree keyed on the event identity. The sink already
-- writes each event id once (it inserts only ids not yet in this table, see
-- 0002), so the engine's merge-time collapse is a second line of defence, not
-- the mechanism queries rely on.
-- ORDER BY (license_id, event_time, event_id): nearly every question is "this
-- license over that time range", and the sink's duplicate check looks events
-- up by exactly these columns; event_id last makes the key unique per event.
-- PARTITION BY month: retention (TTL, see the sink_retention_months setting)
-- drops whole months; range scans prune by month.
-- LowCardinality on the dimensions: few distinct values, dictionary-encoded.
CREATE TABLE IF NOT EXISTS usage_events
(
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
    unit_price      Nullable(Decimal(38, 12)),
    cost            Nullable(Decimal(38, 18)),
    currency        LowCardinality(String),
    price_version   UInt32,
    kafka_partition Int32,
    kafka_offset    Int64,
    ingested_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (license_id, event_time, event_id);

-- Landing table for the sink's Avro inserts: one row per Kafka message, one
-- array per event field (the wire format is columnar), plus three fields the
-- sink appends to every record: the flush it belongs to and the message's
-- partition and offset. Engine Null: nothing is stored here; the materialized
-- view below unrolls each row into events in the staging table.
CREATE TABLE IF NOT EXISTS usage_batches_in
(
    event_id        Array(UUID),
    event_time      Array(DateTime64(6, 'UTC')),
    license_id      Array(String),
    producer_id     Array(String),
    sequence        Array(Int64),
    feature         Array(String),
    model           Array(String),
    model_version   Array(String),
    metric          Array(String),
    quantity        Array(Decimal(18, 6)),
    status          Array(String),
    latency_us      Array(Nullable(Int64)),
    team            Array(String),
    app             Array(String),
    environment     Array(String),
    purpose         Array(String),
    hardware_id     Array(String),
    region          Array(String),
    input_hash      Array(Nullable(String)),
    output_hash     Array(Nullable(String)),
    flush_id        UInt64,
    kafka_partition Int32,
    kafka_offset    Int64
)
ENGINE = Null;

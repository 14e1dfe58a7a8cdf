-- Alerts from the alerts topic. Alert ids are deterministic, so a redelivered
-- alert carries the same id: ReplacingMergeTree ORDER BY alert_id collapses
-- it, and the query pack reads with FINAL so results are exact before merges.
CREATE TABLE IF NOT EXISTS alerts
(
    alert_id    String,
    kind        LowCardinality(String),
    severity    LowCardinality(String),
    license_id  LowCardinality(String),
    tenant      LowCardinality(String),
    team        LowCardinality(String),
    metric      LowCardinality(String),
    period      String,
    threshold   Nullable(Int32),
    message     String,
    evidence    Map(String, String),
    event_id    Nullable(String),
    created_at  DateTime64(6, 'UTC'),
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(created_at)
ORDER BY alert_id;

-- Every version of every license's terms seen on the compacted licenses topic
-- (the topic keeps only the latest; this table keeps the history for audits).
-- ReplacingMergeTree ORDER BY (license_id, updated_at): re-reading the topic
-- collapses to one row per version. Lists are kept as arrays; quotas and
-- model grants as parallel arrays of their fields.
CREATE TABLE IF NOT EXISTS license_snapshots
(
    license_id        String,
    updated_at        DateTime64(6, 'UTC'),
    key_hash          String,
    tenant            LowCardinality(String),
    tier              LowCardinality(String),
    status            LowCardinality(String),
    not_before        Nullable(DateTime64(6, 'UTC')),
    expires_at        Nullable(DateTime64(6, 'UTC')),
    `quotas.metric`   Array(String),
    `quotas.limit`    Array(Decimal(18, 6)),
    `quotas.period`   Array(String),
    `quotas.hard`     Array(UInt8),
    `models.model`    Array(String),
    `models.version_rule` Array(String),
    hardware_ids      Array(String),
    max_hardware      Nullable(Int32),
    regions           Array(String),
    features          Array(String),
    ingested_at       DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY (license_id, updated_at);

-- Messages the sink could not decode or ClickHouse refused, with the reason.
-- MergeTree ORDER BY (topic, partition, offset): looked up by source
-- position; re-reading after a crash may add the same position twice, which
-- is harmless for a diagnostic table (queries can use DISTINCT).
CREATE TABLE IF NOT EXISTS dead_letters
(
    topic       LowCardinality(String),
    partition   Int32,
    offset      Int64,
    key         Nullable(String),
    value_b64   String,
    reason      String,
    received_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(received_at)
ORDER BY (topic, partition, offset);

-- Every validate / check / reserve / release answer from the decisions topic: the
-- evidence of what was allowed, against which terms, for whom.
-- ReplacingMergeTree: decision ids are unique, so a re-read of the topic
-- collapses to one row per decision. ORDER BY (license_id, decided_at,
-- decision_id): the questions asked are "a license's decisions over a period"
-- (a range scan of one license) and "was this decision id ever given"
-- (usage joined on decision_id). PARTITION BY month so the retention TTL
-- (sink_decisions_retention_days) drops whole parts.
CREATE TABLE IF NOT EXISTS license_decisions
(
    decision_id    String,
    kind           LowCardinality(String),
    license_id     String,
    valid          UInt8,
    code           LowCardinality(String),
    message        String,
    terms_version  Nullable(DateTime64(6, 'UTC')),
    tier           LowCardinality(String),
    client         String,
    feature        LowCardinality(String),
    metric         LowCardinality(String),
    quantity       Decimal(18, 6),
    model          LowCardinality(String),
    model_version  LowCardinality(String),
    hardware_id    String,
    region         LowCardinality(String),
    reservation_id String,
    decided_at     DateTime64(6, 'UTC'),
    ingested_at    DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(decided_at)
ORDER BY (license_id, decided_at, decision_id);

-- The model-release catalog as it was published (compacted topic; this keeps
-- every version of every record). ReplacingMergeTree ORDER BY (model, version,
-- withdrawn): a re-read collapses; a withdrawal is a second row.
CREATE TABLE IF NOT EXISTS model_releases
(
    model       String,
    version     String,
    released_at DateTime64(6, 'UTC'),
    withdrawn   UInt8,
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY (model, version, withdrawn);

-- License v2: maintenance windows count from the purchase time (kept for the
-- SQL that judges past usage under the terms in force at the time).
ALTER TABLE license_snapshots ADD COLUMN IF NOT EXISTS purchased_at Nullable(DateTime64(6, 'UTC'));

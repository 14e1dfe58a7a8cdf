-- The rollups of 0004 gain provider, use_case and stage in their keys
-- (spend by provider, cost per use case, cost per pipeline stage).
--
-- In place, not rebuilt: the tables keep their engine (AggregatingMergeTree,
-- see 0004) and every stored row, and the new columns are appended to the
-- sorting key in the same ALTER that adds them (ClickHouse allows a new
-- column in ORDER BY only so, only at the end, and only without a DEFAULT
-- expression: the type's default '' is what we want anyway). The primary
-- index stays (license_id, hour, ...): questions are still per license over
-- a time range. Why not recreate and backfill from usage_events: rollups
-- outlive raw events (sink_retention_months drops raw months, never rollup
-- months), so a rebuild from raw would lose the totals of expired months; and
-- every event stored before this migration is a v1 event whose provider,
-- use_case and stage are '', which is what the existing rows now read. So
-- every total is kept exactly, at no cost, and re-running a statement is
-- harmless (IF NOT EXISTS, the same key again).
ALTER TABLE usage_hourly
    ADD COLUMN IF NOT EXISTS provider LowCardinality(String) AFTER license_id,
    ADD COLUMN IF NOT EXISTS use_case LowCardinality(String) AFTER app,
    ADD COLUMN IF NOT EXISTS stage    LowCardinality(String) AFTER feature,
    MODIFY ORDER BY (license_id, hour, team, app, model, model_version, feature, region, metric, currency,
                     provider, use_case, stage);

ALTER TABLE usage_daily
    ADD COLUMN IF NOT EXISTS provider LowCardinality(String) AFTER license_id,
    ADD COLUMN IF NOT EXISTS use_case LowCardinality(String) AFTER app,
    ADD COLUMN IF NOT EXISTS stage    LowCardinality(String) AFTER feature,
    MODIFY ORDER BY (license_id, hour, team, app, model, model_version, feature, region, metric, currency,
                     provider, use_case, stage);

ALTER TABLE usage_monthly
    ADD COLUMN IF NOT EXISTS provider LowCardinality(String) AFTER license_id,
    ADD COLUMN IF NOT EXISTS use_case LowCardinality(String) AFTER model,
    ADD COLUMN IF NOT EXISTS stage    LowCardinality(String) AFTER use_case,
    MODIFY ORDER BY (license_id, month, model, metric, currency, provider, use_case, stage);

-- The cascade views, recreated to carry the new keys (same SQL as 0004
-- otherwise; sinks/rollups.py rebuilds buckets with the same hourly SELECT).
-- Migrations run before the sink consumes, so no insert into usage_events
-- falls between a drop and its create.
DROP VIEW IF EXISTS usage_hourly_mv;

DROP VIEW IF EXISTS usage_daily_mv;

DROP VIEW IF EXISTS usage_monthly_mv;

CREATE MATERIALIZED VIEW IF NOT EXISTS usage_hourly_mv TO usage_hourly AS
SELECT toStartOfHour(event_time) AS hour, license_id, provider, team, app, use_case, model, model_version, feature,
       stage, region, metric, currency, count() AS events, countIf(status != 'ok') AS errors,
       countIf(unit_price IS NULL) AS unpriced, sum(quantity) AS quantity,
       sum(ifNull(cost, toDecimal128(0, 18))) AS cost, uniqExactState(toString(hardware_id)) AS hardware
FROM usage_events
GROUP BY hour, license_id, provider, team, app, use_case, model, model_version, feature, stage, region, metric,
         currency;

CREATE MATERIALIZED VIEW IF NOT EXISTS usage_daily_mv TO usage_daily AS
SELECT toDateTime(toStartOfDay(usage_hourly.hour), 'UTC') AS hour, license_id, provider, team, app, use_case,
       model, model_version, feature, stage, region, metric, currency, sum(events) AS events,
       sum(errors) AS errors, sum(unpriced) AS unpriced, sum(quantity) AS quantity, sum(cost) AS cost,
       uniqExactMergeState(hardware) AS hardware
FROM usage_hourly
GROUP BY hour, license_id, provider, team, app, use_case, model, model_version, feature, stage, region, metric,
         currency;

CREATE MATERIALIZED VIEW IF NOT EXISTS usage_monthly_mv TO usage_monthly AS
SELECT toStartOfMonth(hour) AS month, license_id, provider, model, use_case, stage, metric, currency,
       sum(events) AS events, sum(quantity) AS quantity, sum(cost) AS cost,
       uniqExactMergeState(hardware) AS hardware
FROM usage_daily
GROUP BY month, license_id, provider, model, use_case, stage, metric, currency;

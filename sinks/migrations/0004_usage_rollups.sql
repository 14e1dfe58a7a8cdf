-- Rollups of usage_events, fed by materialized views. They are exact because
-- usage_events only ever receives each event once (see 0002); repricing
-- rebuilds the affected buckets from usage_events (meterstream prices reprice).
--
-- Engine: AggregatingMergeTree. Counts, quantities and costs are
-- SimpleAggregateFunction(sum) (merged by plain addition, readable without
-- -Merge); distinct hardware needs a uniqExact state, which SummingMergeTree
-- cannot hold. Queries still GROUP BY (rows of one key merge only eventually).
-- ORDER BY the full dimension list with license first: questions are per
-- license (or team) over a time range. Currency is part of the key so costs
-- in different currencies are never added together.
-- PARTITION BY month of the bucket, like the raw table.
CREATE TABLE IF NOT EXISTS usage_hourly
(
    hour          DateTime('UTC'),
    license_id    LowCardinality(String),
    team          LowCardinality(String),
    app           LowCardinality(String),
    model         LowCardinality(String),
    model_version LowCardinality(String),
    feature       LowCardinality(String),
    region        LowCardinality(String),
    metric        LowCardinality(String),
    currency      LowCardinality(String),
    events        SimpleAggregateFunction(sum, UInt64),
    errors        SimpleAggregateFunction(sum, UInt64),
    unpriced      SimpleAggregateFunction(sum, UInt64),
    quantity      SimpleAggregateFunction(sum, Decimal(38, 6)),
    cost          SimpleAggregateFunction(sum, Decimal(38, 18)),
    hardware      AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (license_id, hour, team, app, model, model_version, feature, region, metric, currency);

CREATE TABLE IF NOT EXISTS usage_daily AS usage_hourly
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (license_id, hour, team, app, model, model_version, feature, region, metric, currency);

-- Per license and month (model and metric kept: graduated tiers and quotas are per metric).
CREATE TABLE IF NOT EXISTS usage_monthly
(
    month      Date,
    license_id LowCardinality(String),
    model      LowCardinality(String),
    metric     LowCardinality(String),
    currency   LowCardinality(String),
    events     SimpleAggregateFunction(sum, UInt64),
    quantity   SimpleAggregateFunction(sum, Decimal(38, 6)),
    cost       SimpleAggregateFunction(sum, Decimal(38, 18)),
    hardware   AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYear(month)
ORDER BY (license_id, month, model, metric, currency);

CREATE MATERIALIZED VIEW IF NOT EXISTS usage_hourly_mv TO usage_hourly AS
SELECT toStartOfHour(event_time) AS hour, license_id, team, app, model, model_version, feature, region, metric,
       currency, count() AS events, countIf(status != 'ok') AS errors, countIf(unit_price IS NULL) AS unpriced,
       sum(quantity) AS quantity, sum(ifNull(cost, toDecimal128(0, 18))) AS cost,
       uniqExactState(toString(hardware_id)) AS hardware
FROM usage_events
GROUP BY hour, license_id, team, app, model, model_version, feature, region, metric, currency;

-- Daily and monthly are fed from the hourly rows just written, not from the
-- events again: one aggregation over the flush's events instead of three, and
-- the cascade keeps the three levels consistent by construction.
CREATE MATERIALIZED VIEW IF NOT EXISTS usage_daily_mv TO usage_daily AS
SELECT toDateTime(toStartOfDay(usage_hourly.hour), 'UTC') AS hour, license_id, team, app, model, model_version, feature, region,
       metric, currency, sum(events) AS events, sum(errors) AS errors, sum(unpriced) AS unpriced,
       sum(quantity) AS quantity, sum(cost) AS cost, uniqExactMergeState(hardware) AS hardware
FROM usage_hourly
GROUP BY hour, license_id, team, app, model, model_version, feature, region, metric, currency;

CREATE MATERIALIZED VIEW IF NOT EXISTS usage_monthly_mv TO usage_monthly AS
SELECT toStartOfMonth(hour) AS month, license_id, model, metric, currency, sum(events) AS events,
       sum(quantity) AS quantity, sum(cost) AS cost, uniqExactMergeState(hardware) AS hardware
FROM usage_daily
GROUP BY month, license_id, model, metric, currency;

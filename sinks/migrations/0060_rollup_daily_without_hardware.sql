-- Cheaper rollup writes (issue 16): usage_daily no longer keeps a set of distinct hardware ids per
-- row; distinct machines are kept per hour (where the single aggregation over the events computes
-- them anyway) and per UTC month (the unit of the max_hardware term), merged straight from the
-- hourly rows. No query, report or page read distinct hardware per day, and on busy stores daily
-- holds ~0.27 rows per event, each of which merged a set. Measured in docs/benchmarks.md ("Query
-- speed on 10 million events", "Rollup write cost").
--
-- In place, like 0007: daily's hardware column is dropped (per-day machine counts go, of every
-- month; per-hour and per-month ones, expired raw months included, stay untouched, and every sum
-- stays in all three levels). Monthly is now fed from the hourly rows just written instead of the
-- daily ones: the same sums, and the hardware states merged from their source.
-- Migrations run before the sink consumes, so no insert falls between a drop and its create.
DROP VIEW IF EXISTS usage_daily_mv;

DROP VIEW IF EXISTS usage_monthly_mv;

ALTER TABLE usage_daily DROP COLUMN IF EXISTS hardware;

CREATE MATERIALIZED VIEW IF NOT EXISTS usage_daily_mv TO usage_daily AS
SELECT toDateTime(toStartOfDay(usage_hourly.hour), 'UTC') AS hour, license_id, provider, team, app, use_case,
       model, model_version, feature, stage, region, metric, currency, sum(events) AS events,
       sum(errors) AS errors, sum(unpriced) AS unpriced, sum(quantity) AS quantity, sum(cost) AS cost
FROM usage_hourly
GROUP BY hour, license_id, provider, team, app, use_case, model, model_version, feature, stage, region, metric,
         currency;

CREATE MATERIALIZED VIEW IF NOT EXISTS usage_monthly_mv TO usage_monthly AS
SELECT toStartOfMonth(usage_hourly.hour) AS month, license_id, provider, model, use_case, stage, metric, currency,
       sum(events) AS events, sum(quantity) AS quantity, sum(cost) AS cost,
       uniqExactMergeState(hardware) AS hardware
FROM usage_hourly
GROUP BY month, license_id, provider, model, use_case, stage, metric, currency;

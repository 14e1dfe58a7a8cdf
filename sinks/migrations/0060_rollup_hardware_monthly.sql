-- Cheaper rollup writes (issue 16): distinct hardware is kept only where a question needs it, in
-- usage_monthly (a license's machines per UTC month, the unit of the max_hardware term), and no
-- longer in every hourly and daily row.
--
-- Why: usage_hourly holds ~0.7 rows per event on busy stores, and each of its rows carried a
-- uniqExact set of hardware ids that usage_daily merged again; no query, report or page read
-- distinct hardware per hour or day. Measured (docs/benchmarks.md, "Query speed on 10 million
-- events"): the views' CPU per event drops with it, usage_spend (0061) included.
--
-- usage_monthly is now fed from usage_events directly (its only distinct-hardware source), hourly
-- and daily stay a cascade of plain sums. In place, like 0007: the hardware columns of hourly and
-- daily are dropped (per-hour and per-day machine counts go, of every month; the per-month counts,
-- expired raw months included, stay in usage_monthly untouched, and every sum stays in all three).
-- The monthly states keep their type (uniqExact over the id string): a state cannot be converted to
-- another argument type, and a month's old and new rows must merge into one exact count.
-- Migrations run before the sink consumes, so no insert into usage_events falls between a drop
-- and its create.
DROP VIEW IF EXISTS usage_hourly_mv;

DROP VIEW IF EXISTS usage_daily_mv;

DROP VIEW IF EXISTS usage_monthly_mv;

ALTER TABLE usage_hourly DROP COLUMN IF EXISTS hardware;

ALTER TABLE usage_daily DROP COLUMN IF EXISTS hardware;

CREATE MATERIALIZED VIEW IF NOT EXISTS usage_hourly_mv TO usage_hourly AS
SELECT toStartOfHour(event_time) AS hour, license_id, provider, team, app, use_case, model, model_version, feature,
       stage, region, metric, currency, count() AS events, countIf(status != 'ok') AS errors,
       countIf(unit_price IS NULL) AS unpriced, sum(quantity) AS quantity,
       sum(ifNull(cost, toDecimal128(0, 18))) AS cost
FROM usage_events
GROUP BY hour, license_id, provider, team, app, use_case, model, model_version, feature, stage, region, metric,
         currency;

-- Daily from the hourly rows just written (one aggregation of the flush's events for both levels).
CREATE MATERIALIZED VIEW IF NOT EXISTS usage_daily_mv TO usage_daily AS
SELECT toDateTime(toStartOfDay(usage_hourly.hour), 'UTC') AS hour, license_id, provider, team, app, use_case,
       model, model_version, feature, stage, region, metric, currency, sum(events) AS events,
       sum(errors) AS errors, sum(unpriced) AS unpriced, sum(quantity) AS quantity, sum(cost) AS cost
FROM usage_hourly
GROUP BY hour, license_id, provider, team, app, use_case, model, model_version, feature, stage, region, metric,
         currency;

-- Monthly from the events themselves: the only level with distinct hardware (sinks/rollups.py
-- rebuilds it with the same SELECT).
CREATE MATERIALIZED VIEW IF NOT EXISTS usage_monthly_mv TO usage_monthly AS
SELECT toStartOfMonth(event_time) AS month, license_id, provider, model, use_case, stage, metric, currency,
       count() AS events, sum(quantity) AS quantity, sum(ifNull(cost, toDecimal128(0, 18))) AS cost,
       uniqExactState(toString(hardware_id)) AS hardware
FROM usage_events
GROUP BY month, license_id, provider, model, use_case, stage, metric, currency;

-- usage_spend: a small rollup keyed by what the spend questions group on (spend_by_team_model,
-- spend_by_provider_model, budget_variance): day, team, provider, model, source, currency. The
-- license-first rollups answer "by team" only by reading whole months of license rows (2.7M rows
-- for a quarter of 10M events), and source was in no rollup, so spend by source read raw events.
-- This one holds 15,001 rows for the same quarter (1,000 licenses, 20 teams; measured by the query benchmark).
--
-- Engine: AggregatingMergeTree with plain sums (SimpleAggregateFunction), like 0004; queries still
-- GROUP BY. ORDER BY day first: every spend question is a range of days or months, then grouped
-- by the small keys. Currency in the key: costs in different currencies are never added.
-- PARTITION BY month of the day, like the other rollups (retention drops raw months, never these).
CREATE TABLE IF NOT EXISTS usage_spend
(
    day      Date,
    team     LowCardinality(String),
    provider LowCardinality(String),
    model    LowCardinality(String),
    source   LowCardinality(String),
    currency LowCardinality(String),
    events   SimpleAggregateFunction(sum, UInt64),
    unpriced SimpleAggregateFunction(sum, UInt64),
    quantity SimpleAggregateFunction(sum, Decimal(38, 6)),
    cost     SimpleAggregateFunction(sum, Decimal(38, 18))
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (day, team, provider, model, source, currency);

-- Filled once from what the store holds, before the view exists (migrations run before the sink
-- consumes): months whose raw events are kept are summed from them (source included); months whose
-- raw events retention already dropped are summed from usage_daily, which never kept the source, so
-- their spend is kept whole under source '' (not stated). Skipped when usage_spend has rows, so a
-- second run adds nothing.
INSERT INTO usage_spend (day, team, provider, model, source, currency, events, unpriced, quantity, cost)
SELECT toDate(event_time) AS day, team, provider, model, source, currency, count(), countIf(unit_price IS NULL),
       sum(quantity), sum(ifNull(cost, toDecimal128(0, 18)))
FROM usage_events FINAL
WHERE (SELECT count() FROM usage_spend) = 0
GROUP BY day, team, provider, model, source, currency
UNION ALL
SELECT toDate(hour) AS day, team, provider, model, '' AS source, currency, sum(events), sum(unpriced),
       sum(quantity), sum(cost)
FROM usage_daily
WHERE (SELECT count() FROM usage_spend) = 0
  AND toYYYYMM(hour) NOT IN (SELECT DISTINCT toYYYYMM(event_time) FROM usage_events)
GROUP BY day, team, provider, model, source, currency;

-- Fed from usage_events directly (the hourly rollup has no source); sinks/rollups.py rebuilds it
-- with the same SELECT.
CREATE MATERIALIZED VIEW IF NOT EXISTS usage_spend_mv TO usage_spend AS
SELECT toDate(event_time) AS day, team, provider, model, source, currency, count() AS events,
       countIf(unit_price IS NULL) AS unpriced, sum(quantity) AS quantity,
       sum(ifNull(cost, toDecimal128(0, 18))) AS cost
FROM usage_events
GROUP BY day, team, provider, model, source, currency;

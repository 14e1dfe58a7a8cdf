-- usage_license_monthly: per month, license, model, metric and currency, the sums graduated tiers and
-- monthly quotas are computed from (tiered_cost, top_licenses_by_quota). usage_monthly carries provider,
-- use case and stage in its key since 0007, so one month of it holds ~166k rows for 10M events where
-- these questions need ~5k; reading and regrouping them kept tiered_cost over its 50 ms.
--
-- Engine: AggregatingMergeTree of plain sums, like 0004; queries still GROUP BY. ORDER BY month first:
-- both questions read one whole month across licenses. PARTITION BY year, like usage_monthly.
CREATE TABLE IF NOT EXISTS usage_license_monthly
(
    month      Date,
    license_id LowCardinality(String),
    model      LowCardinality(String),
    metric     LowCardinality(String),
    currency   LowCardinality(String),
    events     SimpleAggregateFunction(sum, UInt64),
    quantity   SimpleAggregateFunction(sum, Decimal(38, 6)),
    cost       SimpleAggregateFunction(sum, Decimal(38, 18))
)
ENGINE = AggregatingMergeTree
PARTITION BY toYear(month)
ORDER BY (month, license_id, model, metric, currency);

-- Filled once from usage_monthly (every month it holds, those whose raw events expired included: the
-- totals are the same sums regrouped), before the view exists; skipped when the table has rows.
INSERT INTO usage_license_monthly (month, license_id, model, metric, currency, events, quantity, cost)
SELECT month, license_id, model, metric, currency, sum(events), sum(quantity), sum(cost)
FROM usage_monthly
WHERE (SELECT count() FROM usage_license_monthly) = 0
GROUP BY month, license_id, model, metric, currency;

-- Fed from the usage_monthly rows just written (a flush's few monthly rows, not its events); a rebuild
-- of usage_monthly (sinks/rollups.py) refills it the same way.
CREATE MATERIALIZED VIEW IF NOT EXISTS usage_license_monthly_mv TO usage_license_monthly AS
SELECT month, license_id, model, metric, currency, sum(events) AS events, sum(quantity) AS quantity,
       sum(cost) AS cost
FROM usage_monthly
GROUP BY month, license_id, model, metric, currency;

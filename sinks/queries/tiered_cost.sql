-- Finance: graduated (tiered) cost per license, model and metric for one month.
-- A catalog row with tier_from = T prices the part of the license's monthly volume above T
-- (up to the next tier); the per-event cost uses the first tier, so this query is the invoice
-- figure for tiered metrics. Prices of the newest catalog version in force at the month's start.
-- Tiers are per model across providers (catalog rows with provider = ''; the loader refuses provider tiers).
-- Volumes from usage_license_monthly (per month, license, model, metric, currency).
-- Params: month Date (any day of the month).
WITH tiers AS (
    SELECT model, metric, currency, tier_from, unit_price,
           leadInFrame(tier_from, 1, toDecimal128(-1, 6)) OVER
               (PARTITION BY model, metric, currency ORDER BY tier_from
                ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS tier_to
    FROM price_catalog
    WHERE catalog_version = (SELECT max(catalog_version) FROM price_catalog) AND version_pattern = '*' AND provider = ''
      AND effective_from <= toStartOfMonth({month:Date}) AND effective_to > toStartOfMonth({month:Date})),
used AS (
    SELECT license_id, model, metric, currency, sum(quantity) AS quantity FROM usage_license_monthly
    WHERE month = toStartOfMonth({month:Date}) GROUP BY license_id, model, metric, currency)
SELECT u.license_id AS license_id, u.model AS model, u.metric AS metric, u.currency AS currency,
       any(u.quantity) AS quantity,
       sum(CAST(greatest(least(u.quantity, if(t.tier_to < 0, u.quantity, t.tier_to)) - t.tier_from,
                         toDecimal128(0, 6)) * t.unit_price AS Decimal(38, 18))) AS tiered_cost
FROM used AS u INNER JOIN tiers AS t ON t.model = u.model AND t.metric = u.metric AND t.currency = u.currency
GROUP BY license_id, model, metric, currency
ORDER BY license_id, model, metric;

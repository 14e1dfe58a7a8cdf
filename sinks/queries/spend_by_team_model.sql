-- Finance: spend by team and model per month (exact decimals, per currency).
-- Read from usage_spend (keyed by day, team, provider, model, source, currency: ~160 rows a day for 1,000 licenses of 20 teams).
-- Params: start_month Date (first month, e.g. 2026-10-01), end_month Date (last month, inclusive).
SELECT toStartOfMonth(day) AS month, team, model, currency,
       sum(events) AS events, sum(cost) AS spend
FROM usage_spend
WHERE toStartOfMonth(day) BETWEEN {start_month:Date} AND {end_month:Date}
GROUP BY month, team, model, currency
ORDER BY month, team, spend DESC, model;

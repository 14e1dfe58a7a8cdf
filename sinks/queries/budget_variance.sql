-- Finance: each team's spend in a month against its budget (budgets loaded by `meterstream budgets load`).
-- variance = spend - budget (positive = over budget). Teams with spend or a budget appear.
-- Spend from usage_spend (a rollup keyed by day and team, among others).
-- Params: month Date (any day of the month, e.g. 2026-11-01).
WITH spend AS (
    SELECT team, currency, sum(cost) AS spend FROM usage_spend
    WHERE toStartOfMonth(day) = toStartOfMonth({month:Date}) GROUP BY team, currency),
budget AS (
    SELECT team, currency, argMax(amount, loaded_at) AS budget FROM budgets
    WHERE month = toStartOfMonth({month:Date}) GROUP BY team, currency)
SELECT if(s.team != '', s.team, b.team) AS team, if(s.currency != '', s.currency, b.currency) AS currency,
       s.spend AS spend, b.budget AS budget, s.spend - b.budget AS variance,
       if(b.budget > 0, round(toFloat64(s.spend) / toFloat64(b.budget) * 100, 2), NULL) AS pct_of_budget
FROM spend AS s FULL OUTER JOIN budget AS b ON s.team = b.team AND s.currency = b.currency
ORDER BY team, currency
SETTINGS join_use_nulls = 0;

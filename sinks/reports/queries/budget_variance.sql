-- Finance: each team's spend per month of the period against its budget (table budgets).
-- variance = spend - budget (positive = over). Teams with spend or a budget appear.
-- Params: start DateTime, end DateTime (exclusive, whole days); team, license, model String ('' = all).
WITH spend AS (
    SELECT toStartOfMonth(hour) AS month, team, currency, sum(cost) AS spend FROM usage_daily
    WHERE hour >= {start:DateTime} AND hour < {end:DateTime} AND ({team:String} = '' OR team = {team:String}) AND ({license:String} = '' OR license_id = {license:String}) AND ({model:String} = '' OR model = {model:String})
    GROUP BY month, team, currency),
budget AS (
    SELECT month, team, currency, argMax(amount, loaded_at) AS budget FROM budgets
    WHERE month >= toStartOfMonth({start:DateTime}) AND month < {end:DateTime}
      AND ({team:String} = '' OR team = {team:String})
    GROUP BY month, team, currency)
SELECT if(s.team != '', s.month, b.month) AS month, if(s.team != '', s.team, b.team) AS team,
       if(s.team != '', s.currency, b.currency) AS currency, s.spend AS spend, b.budget AS budget,
       s.spend - b.budget AS variance,
       if(b.budget > 0, round(toFloat64(s.spend) / toFloat64(b.budget) * 100, 2), NULL) AS pct_of_budget
FROM spend AS s FULL OUTER JOIN budget AS b ON s.month = b.month AND s.team = b.team AND s.currency = b.currency
ORDER BY month, team, currency
SETTINGS join_use_nulls = 0;

-- Finance: spend per month and team in the period (exact decimals, per currency).
-- Params: start DateTime, end DateTime (exclusive, whole days); team, license, model String ('' = all).
SELECT toStartOfMonth(hour) AS month, team, currency, sum(cost) AS spend, sum(events) AS events
FROM usage_daily
WHERE hour >= {start:DateTime} AND hour < {end:DateTime} AND ({team:String} = '' OR team = {team:String}) AND ({license:String} = '' OR license_id = {license:String}) AND ({model:String} = '' OR model = {model:String})
GROUP BY month, team, currency
ORDER BY month, team, currency;

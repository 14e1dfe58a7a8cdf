-- Finance: spend per provider and model in the period, largest first.
-- Params: start DateTime, end DateTime (exclusive, whole days); team, license, model String ('' = all).
SELECT provider, model, currency, sum(cost) AS spend, sum(events) AS events, sum(unpriced) AS unpriced
FROM usage_daily
WHERE hour >= {start:DateTime} AND hour < {end:DateTime} AND ({team:String} = '' OR team = {team:String}) AND ({license:String} = '' OR license_id = {license:String}) AND ({model:String} = '' OR model = {model:String})
GROUP BY provider, model, currency
ORDER BY spend DESC, provider, model, currency;

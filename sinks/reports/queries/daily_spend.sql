-- Finance/executive: spend and events per day of the period, per currency (the trend lines).
-- Params: start DateTime, end DateTime (exclusive, whole days); team, license, model String ('' = all).
SELECT toDate(hour) AS day, currency, sum(cost) AS spend, sum(events) AS events
FROM usage_daily
WHERE hour >= {start:DateTime} AND hour < {end:DateTime} AND ({team:String} = '' OR team = {team:String}) AND ({license:String} = '' OR license_id = {license:String}) AND ({model:String} = '' OR model = {model:String})
GROUP BY day, currency
ORDER BY day, currency;

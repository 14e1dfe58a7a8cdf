-- Engineering: events and errors per day and application.
-- Params: start DateTime, end DateTime (exclusive, whole days); team, license, model String ('' = all).
SELECT toDate(hour) AS day, app, sum(events) AS events, sum(errors) AS errors
FROM usage_daily
WHERE hour >= {start:DateTime} AND hour < {end:DateTime} AND ({team:String} = '' OR team = {team:String}) AND ({license:String} = '' OR license_id = {license:String}) AND ({model:String} = '' OR model = {model:String})
GROUP BY day, app
ORDER BY day, app;

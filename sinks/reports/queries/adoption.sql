-- Executive: adoption and exposure of a period: active teams, applications, licenses and models, events,
-- alerts. Run for the period and for the one before it (the trend).
-- Params: start DateTime, end DateTime (exclusive, whole days); team, license, model String ('' = all).
SELECT uniqExactIf(team, team != '') AS teams, uniqExactIf(app, app != '') AS apps,
       uniqExact(license_id) AS licenses, uniqExact(model) AS models, sum(events) AS events,
       sum(errors) AS errors,
       (SELECT count() FROM alerts FINAL WHERE created_at >= {start:DateTime} AND created_at < {end:DateTime}
          AND ({team:String} = '' OR team = {team:String})
          AND ({license:String} = '' OR license_id = {license:String})) AS alerts
FROM usage_daily
WHERE hour >= {start:DateTime} AND hour < {end:DateTime} AND ({team:String} = '' OR team = {team:String}) AND ({license:String} = '' OR license_id = {license:String}) AND ({model:String} = '' OR model = {model:String});

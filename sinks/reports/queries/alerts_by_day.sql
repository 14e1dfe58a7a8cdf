-- Risk and compliance: alerts per day, kind and severity.
-- Params: start DateTime, end DateTime (exclusive, whole days); team, license String ('' = all).
SELECT toDate(created_at) AS day, kind, severity, count() AS alerts, uniqExact(license_id) AS licenses
FROM alerts FINAL
WHERE created_at >= {start:DateTime} AND created_at < {end:DateTime}
  AND ({team:String} = '' OR team = {team:String}) AND ({license:String} = '' OR license_id = {license:String})
GROUP BY day, kind, severity
ORDER BY day, kind, severity;

-- Compliance: audit evidence for one license over a range: every alert with its evidence.
-- Params: license String, start DateTime, end DateTime (exclusive).
SELECT alert_id, created_at, kind, severity, team, metric, period, threshold, message, evidence, event_id
FROM alerts FINAL
WHERE license_id = {license:String} AND created_at >= {start:DateTime} AND created_at < {end:DateTime}
ORDER BY created_at, alert_id;

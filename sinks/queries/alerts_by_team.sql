-- Compliance/engineering: alerts and policy exceptions (anomalies) per team, kind and severity.
-- Params: start DateTime, end DateTime (exclusive).
SELECT team, kind, severity, count() AS alerts, uniqExact(license_id) AS licenses,
       min(created_at) AS first_at, max(created_at) AS last_at
FROM alerts FINAL
WHERE created_at >= {start:DateTime} AND created_at < {end:DateTime}
GROUP BY team, kind, severity
ORDER BY team, alerts DESC, kind, severity;

-- Risk and compliance: the anomalies among the alerts (spend spikes, sequence gaps and repeats), newest first.
-- Params: start DateTime, end DateTime (exclusive, whole days); team, license String ('' = all).
SELECT created_at, kind, severity, license_id, team, message
FROM alerts FINAL
WHERE created_at >= {start:DateTime} AND created_at < {end:DateTime}
  AND kind IN ('spend_spike', 'sequence_gap', 'sequence_repeat')
  AND ({team:String} = '' OR team = {team:String}) AND ({license:String} = '' OR license_id = {license:String})
ORDER BY created_at DESC
LIMIT 100;

-- Compliance: policy violations and exceptions used, per team and rule, with how many were resolved.
-- Violations are the processors' policy_violation alerts; policy_excepted alerts record an exception in use.
-- Params: start DateTime, end DateTime (exclusive).
WITH actions AS (SELECT alert_id, argMax(action, at) AS last_action FROM alert_actions FINAL GROUP BY alert_id)
SELECT a.team AS team, a.evidence['rule_id'] AS rule_id, a.kind AS kind, a.severity AS severity,
       count() AS alerts, uniqExact(a.evidence['use_case']) AS use_cases,
       countIf(x.last_action = 'resolve') AS resolved, countIf(x.last_action = 'acknowledge') AS acknowledged
FROM alerts AS a FINAL LEFT JOIN actions AS x ON a.alert_id = x.alert_id
WHERE a.kind IN ('policy_violation', 'policy_excepted')
  AND a.created_at >= {start:DateTime} AND a.created_at < {end:DateTime}
GROUP BY team, rule_id, kind, severity
ORDER BY team, rule_id, kind
SETTINGS join_use_nulls = 0;

-- Audit: the evidence bundle of one application (use case) over a range, one row per item: usage (per model
-- and metric), policy checks (violations and exceptions used), approvals (inventory versions of the use case
-- and of the models it used), exceptions scoped to it, and remediation of its alerts.
-- Params: use_case String, start DateTime, end DateTime (exclusive).
WITH
    used AS (SELECT model, metric, count() AS n, sum(quantity) AS q, sum(cost) AS c, max(event_time) AS last
             FROM usage_events WHERE if(use_case != '', use_case, app) = {use_case:String}
               AND event_time >= {start:DateTime} AND event_time < {end:DateTime} GROUP BY model, metric),
    checks AS (SELECT alert_id, kind, severity, created_at, evidence, message FROM alerts FINAL
               WHERE evidence['use_case'] = {use_case:String} AND kind IN ('policy_violation', 'policy_excepted')
                 AND created_at >= {start:DateTime} AND created_at < {end:DateTime})
SELECT * FROM (
SELECT 'usage' AS section, last AS at, concat(model, '/', metric) AS id, '' AS actor,
       concat(toString(n), ' events, quantity ', toString(q), ', cost ', toString(c)) AS detail
FROM used
UNION ALL
SELECT 'policy_check', created_at, alert_id, '',
       concat(kind, ' ', evidence['rule_id'], ' v', evidence['policy_version'], ' (', severity, '): ', message)
FROM checks
UNION ALL
SELECT 'approval', updated_at, concat(kind, ':', id), changed_by, concat(status, if(change_note != '', concat(': ', change_note), ''))
FROM inventory_history FINAL
WHERE (kind = 'use_case' AND id = {use_case:String}) OR (kind = 'model' AND id IN (SELECT model FROM used))
UNION ALL
SELECT 'exception', updated_at, exception_id, approver,
       concat(rule_id, ' until ', toString(expires_at), if(isNull(revoked_at), '', ' (revoked)'), ': ', reason)
FROM policy_exceptions FINAL WHERE scope['use_case'] = {use_case:String}
UNION ALL
SELECT 'remediation', at, alert_id, actor, concat(action, if(note != '', concat(': ', note), ''))
FROM alert_actions FINAL WHERE alert_id IN (SELECT alert_id FROM checks)
)
ORDER BY section, at, id;

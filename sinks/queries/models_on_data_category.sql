-- Compliance: which models touched a data category (e.g. customer) in a range, and under which approval:
-- each model's inventory status, who last changed it and when, as it stood at the end of the range.
-- Raw events: within retention.
-- Params: start DateTime, end DateTime (exclusive), category String.
WITH inv AS (
    SELECT id, argMax(status, updated_at) AS status, argMax(changed_by, updated_at) AS approved_by,
           max(updated_at) AS approved_at, argMax(certification, updated_at) AS certification
    FROM inventory_history FINAL WHERE kind = 'model' AND updated_at < {end:DateTime} GROUP BY id)
SELECT e.model AS model, if(inv.id = '', 'unregistered', inv.status) AS status, inv.approved_by AS approved_by,
       if(inv.id = '', NULL, inv.approved_at) AS approved_at, inv.certification AS certification,
       arraySort(groupUniqArray(if(e.use_case != '', e.use_case, e.app))) AS use_cases,
       arraySort(groupUniqArray(e.team)) AS teams, count() AS events
FROM usage_events AS e LEFT JOIN inv ON e.model = inv.id
WHERE e.event_time >= {start:DateTime} AND e.event_time < {end:DateTime} AND has(e.data_categories, {category:String})
GROUP BY model, status, approved_by, approved_at, certification
ORDER BY model
SETTINGS join_use_nulls = 0;

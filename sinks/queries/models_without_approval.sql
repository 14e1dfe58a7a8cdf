-- Compliance: models used while not approved in the inventory (proposed, in review, retired, or not
-- listed at all), as the inventory stood at the end of the range. Restricted models are approved for
-- some uses; the policy rules judge those. Raw events: within retention.
-- Params: start DateTime, end DateTime (exclusive).
WITH inv AS (
    SELECT id, argMax(status, updated_at) AS status FROM inventory_history FINAL
    WHERE kind = 'model' AND updated_at < {end:DateTime} GROUP BY id)
SELECT e.model AS model, if(inv.id = '', 'unregistered', inv.status) AS status,
       arraySort(groupUniqArray(e.team)) AS teams,
       arraySort(groupUniqArray(if(e.use_case != '', e.use_case, e.app))) AS use_cases,
       count() AS events, sum(e.cost) AS cost, min(e.event_time) AS first_used, max(e.event_time) AS last_used
FROM usage_events AS e LEFT JOIN inv ON e.model = inv.id
WHERE e.event_time >= {start:DateTime} AND e.event_time < {end:DateTime}
GROUP BY model, status
HAVING status NOT IN ('approved', 'restricted')
ORDER BY model
SETTINGS join_use_nulls = 0;

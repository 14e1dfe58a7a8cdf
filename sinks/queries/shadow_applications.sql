-- Compliance: applications using AI that are not in the inventory (shadow AI). An event's application is its
-- use_case, or its app when it names no use case. Raw events: within retention.
-- Params: start DateTime, end DateTime (exclusive).
WITH registered AS (SELECT DISTINCT id FROM inventory_history FINAL WHERE kind = 'use_case' AND updated_at < {end:DateTime})
SELECT if(use_case != '', use_case, app) AS application, arraySort(groupUniqArray(team)) AS teams,
       arraySort(groupUniqArray(model)) AS models, uniqExact(user_id) AS users, count() AS events,
       sum(cost) AS cost, min(event_time) AS first_seen, max(event_time) AS last_seen
FROM usage_events
WHERE event_time >= {start:DateTime} AND event_time < {end:DateTime}
  AND if(use_case != '', use_case, app) NOT IN (SELECT id FROM registered)
GROUP BY application
ORDER BY application;

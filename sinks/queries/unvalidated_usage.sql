-- Compliance: uses that were never validated: usage events (v2) whose decision_id names no decision in
-- license_decisions, or that carry none (v1 events, or calls made without validate/reserve/check),
-- per license, model and day.
-- Params: start DateTime, end DateTime (exclusive).
SELECT u.license_id AS license_id, u.model AS model, toDate(u.event_time) AS day, count() AS events,
       countIf(ifNull(u.decision_id, '') = '') AS without_decision_id, sum(u.cost) AS cost
FROM usage_events AS u
LEFT ANTI JOIN (SELECT DISTINCT decision_id FROM license_decisions WHERE decision_id != '') AS d
    ON d.decision_id = ifNull(u.decision_id, '')
WHERE u.event_time >= {start:DateTime} AND u.event_time < {end:DateTime}
GROUP BY license_id, model, day
ORDER BY license_id, model, day;

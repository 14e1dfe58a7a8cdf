-- Executives: per team and month, spend (per currency), adoption (events, users, applications, models) and
-- exposure (policy violations, how many are still open, shadow-AI events), for a trend over months.
-- Raw events: within retention. Params: start_month Date, end_month Date (both months included).
WITH
    usage AS (
        SELECT team, toStartOfMonth(event_time) AS month, currency, sum(cost) AS spend, count() AS events,
               uniqExact(user_id) AS users, uniqExact(if(use_case != '', use_case, app)) AS applications,
               uniqExact(model) AS models,
               countIf(if(use_case != '', use_case, app) NOT IN
                       (SELECT id FROM inventory_history FINAL WHERE kind = 'use_case')) AS shadow_events
        FROM usage_events
        WHERE toStartOfMonth(event_time) BETWEEN toStartOfMonth({start_month:Date}) AND toStartOfMonth({end_month:Date})
        GROUP BY team, month, currency),
    actions AS (SELECT alert_id, argMax(action, at) AS last_action FROM alert_actions FINAL GROUP BY alert_id),
    exposure AS (
        SELECT a.team AS team, toStartOfMonth(a.created_at) AS month, count() AS violations,
               countIf(x.last_action != 'resolve') AS open_violations
        FROM alerts AS a FINAL LEFT JOIN actions AS x ON a.alert_id = x.alert_id
        WHERE a.kind = 'policy_violation'
          AND toStartOfMonth(a.created_at) BETWEEN toStartOfMonth({start_month:Date}) AND toStartOfMonth({end_month:Date})
        GROUP BY team, month)
SELECT u.team AS team, u.month AS month, u.currency AS currency, u.spend AS spend, u.events AS events,
       u.users AS users, u.applications AS applications, u.models AS models, u.shadow_events AS shadow_events,
       x.violations AS violations, x.open_violations AS open_violations
FROM usage AS u LEFT JOIN exposure AS x ON u.team = x.team AND u.month = x.month
ORDER BY month, team, currency
SETTINGS join_use_nulls = 0;

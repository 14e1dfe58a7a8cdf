-- Quota burn-down: for each license with a monthly quota, its cumulative use per day of the month the
-- period ends in, as % of the quota (latest license snapshot). Top 12 licenses by % used.
-- Params: end DateTime (exclusive); team, license, model String ('' = all).
WITH toStartOfMonth({end:DateTime} - 1) AS m,
quotas AS (
    SELECT license_id, q_metric AS metric, q_limit AS quota
    FROM (SELECT license_id, argMax(`quotas.metric`, updated_at) AS qm, argMax(`quotas.limit`, updated_at) AS ql,
                 argMax(`quotas.period`, updated_at) AS qp
          FROM license_snapshots FINAL GROUP BY license_id)
    ARRAY JOIN qm AS q_metric, ql AS q_limit, qp AS q_period
    WHERE q_period = 'month' AND q_limit > 0 AND ({license:String} = '' OR license_id = {license:String})),
daily AS (
    SELECT license_id, metric, toDate(hour) AS day, sum(quantity) AS used FROM usage_daily
    WHERE hour >= m AND hour < addMonths(m, 1) AND ({team:String} = '' OR team = {team:String}) AND ({license:String} = '' OR license_id = {license:String}) AND ({model:String} = '' OR model = {model:String})
    GROUP BY license_id, metric, day),
running AS (
    SELECT d.license_id AS license_id, d.metric AS metric, d.day AS day, q.quota AS quota,
           sum(d.used) OVER (PARTITION BY d.license_id, d.metric ORDER BY d.day) AS cumulative
    FROM daily AS d INNER JOIN quotas AS q ON q.license_id = d.license_id AND q.metric = d.metric),
top AS (
    SELECT license_id, metric FROM running GROUP BY license_id, metric
    ORDER BY max(cumulative / quota) DESC, license_id, metric LIMIT 12)
SELECT license_id, metric, day, cumulative, quota, round(toFloat64(cumulative) / toFloat64(quota) * 100, 2) AS pct_of_quota
FROM running
WHERE (license_id, metric) IN (SELECT license_id, metric FROM top)
ORDER BY license_id, metric, day;

-- Finance/customer success: licenses closest to (or over) their monthly quota, by % used.
-- Quotas come from each license's latest snapshot (period = month).
-- Use from usage_license_monthly (per month, license, model, metric, currency).
-- Params: month Date (any day of the month), top UInt32.
WITH quotas AS (
    SELECT license_id, q_metric AS metric, q_limit AS quota
    FROM (SELECT license_id, argMax(`quotas.metric`, updated_at) AS m, argMax(`quotas.limit`, updated_at) AS l,
                 argMax(`quotas.period`, updated_at) AS p
          FROM license_snapshots FINAL GROUP BY license_id)
    ARRAY JOIN m AS q_metric, l AS q_limit, p AS q_period
    WHERE q_period = 'month' AND q_limit > 0)
SELECT q.license_id AS license_id, q.metric AS metric, u.used AS used, q.quota AS quota,
       round(toFloat64(u.used) / toFloat64(q.quota) * 100, 2) AS pct_of_quota
FROM quotas AS q
INNER JOIN (SELECT license_id, metric, sum(quantity) AS used FROM usage_license_monthly
            WHERE month = toStartOfMonth({month:Date}) GROUP BY license_id, metric) AS u
    ON u.license_id = q.license_id AND u.metric = q.metric
ORDER BY pct_of_quota DESC, license_id, metric
LIMIT {top:UInt32};

-- Risk and compliance: how alerts reached their webhook endpoints: attempts per outcome, per endpoint.
-- Outcomes: delivered, retry, failed, gone, exhausted (see docs/webhooks.md).
-- Params: start DateTime, end DateTime (exclusive, whole days); license String ('' = all).
SELECT endpoint_id, uniqExact(delivery_id) AS deliveries, count() AS attempts,
       countIf(outcome = 'delivered') AS delivered, countIf(outcome = 'retry') AS retried,
       countIf(outcome IN ('failed', 'gone', 'exhausted')) AS given_up,
       round(avg(latency_us) / 1000, 1) AS avg_ms, max(attempted_at) AS last_attempt
FROM webhook_deliveries FINAL
WHERE attempted_at >= {start:DateTime} AND attempted_at < {end:DateTime}
  AND ({license:String} = '' OR license_id = {license:String})
GROUP BY endpoint_id
ORDER BY endpoint_id;

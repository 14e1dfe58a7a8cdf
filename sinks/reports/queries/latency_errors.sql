-- Engineering: latency percentiles (exact, raw events) and error rate per application and model.
-- Params: start DateTime, end DateTime (exclusive, whole days); team, license, model String ('' = all).
SELECT app, model, count() AS events, countIf(status != 'ok') AS errors, round(errors / events, 6) AS error_rate,
       quantileExact(0.5)(latency_us) / 1000 AS p50_ms, quantileExact(0.95)(latency_us) / 1000 AS p95_ms,
       quantileExact(0.99)(latency_us) / 1000 AS p99_ms
FROM usage_events FINAL
WHERE event_time >= {start:DateTime} AND event_time < {end:DateTime} AND ({team:String} = '' OR team = {team:String}) AND ({license:String} = '' OR license_id = {license:String}) AND ({model:String} = '' OR model = {model:String})
GROUP BY app, model
ORDER BY app, model;

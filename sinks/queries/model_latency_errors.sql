-- Engineering: latency percentiles and error rate per model and version (raw events: exact quantiles).
-- Params: start DateTime, end DateTime (exclusive).
SELECT model, model_version, count() AS events, countIf(status != 'ok') AS errors,
       round(errors / events, 6) AS error_rate,
       quantileExact(0.5)(latency_us) AS p50_us, quantileExact(0.95)(latency_us) AS p95_us,
       quantileExact(0.99)(latency_us) AS p99_us
FROM usage_events
WHERE event_time >= {start:DateTime} AND event_time < {end:DateTime}
GROUP BY model, model_version
ORDER BY model, model_version;

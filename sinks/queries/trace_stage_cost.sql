-- Engineering/finance: cost of each stage of one request through a composed pipeline (its trace id),
-- per metric, with the stage's first and last event and its latency.
-- Params: trace String.
SELECT stage, model, provider, metric, currency, count() AS events, sum(quantity) AS quantity,
       sum(ifNull(cost, toDecimal128(0, 18))) AS cost, min(event_time) AS first_at, max(event_time) AS last_at,
       max(latency_us) AS max_latency_us
FROM usage_events FINAL
WHERE trace_id = {trace:String}
GROUP BY stage, model, provider, metric, currency
ORDER BY first_at, stage, model, metric;

-- Governance/finance: usage that arrived twice through two paths, e.g. our library and the OTLP receiver
-- (or a client hook) metering the same call. Events of one trace, license, model and metric with the same
-- quantity from more than one source are taken for the same use: keep one source per call (docs/ingestion.md).
-- spend is the cost of all copies; excess_spend what the extra copies added.
-- Params: start DateTime, end DateTime (exclusive).
SELECT trace_id, license_id, model, metric, quantity, arraySort(groupUniqArray(source)) AS sources,
       count() AS events, sum(ifNull(cost, toDecimal128(0, 18))) AS spend,
       sum(ifNull(cost, toDecimal128(0, 18))) - max(ifNull(cost, toDecimal128(0, 18))) AS excess_spend,
       min(event_time) AS first_at
FROM usage_events FINAL
WHERE event_time >= {start:DateTime} AND event_time < {end:DateTime} AND trace_id IS NOT NULL
GROUP BY trace_id, license_id, model, metric, quantity
HAVING uniqExact(source) > 1
ORDER BY first_at, trace_id, metric;

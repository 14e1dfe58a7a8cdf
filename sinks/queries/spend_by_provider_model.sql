-- Finance/governance: spend by provider, model, team and source over a period (exact decimals, per currency).
-- Rows of events from v1 producers have provider and source '' (not stated).
-- Params: start DateTime, end DateTime (exclusive).
SELECT provider, model, team, source, currency, count() AS events, sum(quantity) AS quantity,
       sum(ifNull(cost, toDecimal128(0, 18))) AS spend, countIf(unit_price IS NULL) AS unpriced
FROM usage_events
WHERE event_time >= {start:DateTime} AND event_time < {end:DateTime}
GROUP BY provider, model, team, source, currency
ORDER BY provider, model, team, source, currency;

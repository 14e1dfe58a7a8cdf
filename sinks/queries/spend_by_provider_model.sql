-- Finance/governance: spend by provider, model, team and source over a period (exact decimals, per currency).
-- Rows of events from v1 producers have provider and source '' (not stated).
-- A range of whole days (the usual question) is read from usage_spend (day, team, provider, model, source,
-- currency), any other from the raw events: the same sums. The branch whose condition is false reads nothing.
-- Params: start DateTime, end DateTime (exclusive).
WITH toStartOfDay({start:DateTime}, 'UTC') = {start:DateTime}
         AND toStartOfDay({end:DateTime}, 'UTC') = {end:DateTime} AS whole_days
SELECT provider, model, team, source, currency, sum(n) AS events, sum(q) AS quantity, sum(c) AS spend,
       sum(u) AS unpriced
FROM (
    SELECT provider, model, team, source, currency, events AS n, quantity AS q, cost AS c, unpriced AS u
    FROM usage_spend
    WHERE whole_days AND day >= toDate({start:DateTime}) AND day < toDate({end:DateTime})
    UNION ALL
    SELECT provider, model, team, source, currency, toUInt64(1) AS n, toDecimal128(quantity, 6) AS q,
           ifNull(cost, toDecimal128(0, 18)) AS c, toUInt64(unit_price IS NULL) AS u
    FROM usage_events
    WHERE NOT whole_days AND event_time >= {start:DateTime} AND event_time < {end:DateTime})
GROUP BY provider, model, team, source, currency
ORDER BY provider, model, team, source, currency;

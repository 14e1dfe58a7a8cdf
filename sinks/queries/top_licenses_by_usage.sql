-- Engineering/finance: licenses using the most of one metric over a time range.
-- Params: start DateTime, end DateTime (exclusive), metric String, top UInt32.
SELECT license_id, sum(events) AS events, sum(quantity) AS quantity, sum(cost) AS cost
FROM usage_hourly
WHERE hour >= {start:DateTime} AND hour < {end:DateTime} AND metric = {metric:String}
GROUP BY license_id
ORDER BY quantity DESC, license_id
LIMIT {top:UInt32};

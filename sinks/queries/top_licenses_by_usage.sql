-- Engineering/finance: licenses using the most of one metric over a time range.
-- A range of whole days (the usual question: this month, the last 7 days) is read from usage_daily,
-- any other from usage_hourly: the same sums (a daily row is its day's hourly rows summed) from ~3x
-- fewer rows. The branch whose condition is false reads nothing.
-- Params: start DateTime, end DateTime (exclusive), metric String, top UInt32.
WITH toStartOfDay({start:DateTime}, 'UTC') = {start:DateTime}
         AND toStartOfDay({end:DateTime}, 'UTC') = {end:DateTime} AS whole_days
SELECT license_id, sum(events) AS events, sum(quantity) AS quantity, sum(cost) AS cost
FROM (
    SELECT license_id, events, quantity, cost FROM usage_daily
    WHERE whole_days AND hour >= {start:DateTime} AND hour < {end:DateTime} AND metric = {metric:String}
    UNION ALL
    SELECT license_id, events, quantity, cost FROM usage_hourly
    WHERE NOT whole_days AND hour >= {start:DateTime} AND hour < {end:DateTime} AND metric = {metric:String})
GROUP BY license_id
ORDER BY quantity DESC, license_id
LIMIT {top:UInt32};

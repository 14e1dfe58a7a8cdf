-- Finance: month-end forecast for the month the period ends in, per currency: spend to date, the
-- daily run rate over the days elapsed (up to the period's end or today), and that rate to the month's end.
-- Params: start DateTime, end DateTime (exclusive, whole days); team, license, model String ('' = all).
WITH toStartOfMonth({end:DateTime} - 1) AS m,
     least(toDate({end:DateTime}), today() + 1) AS until,
     greatest(dateDiff('day', m, until), 1) AS elapsed,
     toDayOfMonth(toLastDayOfMonth(m)) AS days
SELECT m AS month, currency, sum(cost) AS to_date, elapsed AS days_elapsed, days AS days_in_month,
       sum(cost) / elapsed AS daily_rate, sum(cost) * days / elapsed AS forecast
FROM usage_daily
WHERE hour >= m AND hour < until AND ({team:String} = '' OR team = {team:String}) AND ({license:String} = '' OR license_id = {license:String}) AND ({model:String} = '' OR model = {model:String})
GROUP BY currency
ORDER BY currency;

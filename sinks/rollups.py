"""Rebuilding rollup buckets from raw events (after repricing), with the same SQL as the views.

Views (migrations 0004, 0007, 0060–0062) aggregate each insert into usage_events into
usage_hourly, which cascades into usage_daily and usage_monthly (and that into
usage_license_monthly), and into usage_spend (the spend questions' keys, source included). A
rebuild therefore works on whole calendar months: it deletes the months' buckets at every level and
re-inserts hourly and spend rows from the raw events; the cascades refill the rest. A test checks rollups equal
raw-event queries afterwards.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from clickhouse_connect.driver.client import Client

SYNC = {"mutations_sync": 2}
RANGE = "event_time >= {a:DateTime64(6, 'UTC')} AND event_time < {b:DateTime64(6, 'UTC')}"
KEYS = "license_id, provider, team, app, use_case, model, model_version, feature, stage, region, metric, currency"
COST = "sum(ifNull(cost, toDecimal128(0, 18))) AS cost"
HOURLY = (f"INSERT INTO usage_hourly (hour, {KEYS}, events, errors, unpriced, quantity, cost, hardware) "
          f"SELECT toStartOfHour(event_time) AS hour, {KEYS}, count() AS events, countIf(status != 'ok') AS errors, "
          f"countIf(unit_price IS NULL) AS unpriced, sum(quantity) AS quantity, {COST}, "
          f"uniqExactState(toString(hardware_id)) AS hardware FROM usage_events FINAL WHERE {RANGE} GROUP BY hour, {KEYS}")
SPEND_KEYS = "team, provider, model, source, currency"
SPEND = (f"INSERT INTO usage_spend (day, {SPEND_KEYS}, events, unpriced, quantity, cost) "
         f"SELECT toDate(event_time) AS day, {SPEND_KEYS}, count() AS events, countIf(unit_price IS NULL) AS unpriced, "
         f"sum(quantity) AS quantity, {COST} FROM usage_events FINAL WHERE {RANGE} GROUP BY day, {SPEND_KEYS}")
# (table, its time column as a DateTime64 expression) of every level a rebuild deletes and refills.
LEVELS = (("usage_hourly", "hour"), ("usage_daily", "hour"), ("usage_monthly", "toDateTime64(month, 6, 'UTC')"),
          ("usage_license_monthly", "toDateTime64(month, 6, 'UTC')"), ("usage_spend", "toDateTime64(day, 6, 'UTC')"))


def month_start(t: datetime, add: int = 0) -> datetime:
    m = t.year * 12 + t.month - 1 + add
    return datetime(m // 12, m % 12 + 1, 1, tzinfo=timezone.utc)


def rebuild_rollups(client: Client, start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """Recompute every rollup bucket of the calendar months overlapping [start, end); return those months."""
    a, b = month_start(start), month_start(end - timedelta(microseconds=1), 1)
    params = {"a": a, "b": b}
    for table, column in LEVELS:
        client.command(f"ALTER TABLE {table} DELETE WHERE {column} >= {{a:DateTime64(6, 'UTC')}} "
                       f"AND {column} < {{b:DateTime64(6, 'UTC')}}", parameters=params, settings=SYNC)
    for insert in (HOURLY, SPEND):
        client.command(insert, parameters=params)
    return a, b

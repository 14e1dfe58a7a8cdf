"""Rebuilding rollup buckets from raw events (after repricing), with the same SQL as the views.

Views in migrations 0004 and 0007 (keys) aggregate each insert into usage_events into
usage_hourly, which cascades into usage_daily and then usage_monthly. A
rebuild therefore works on whole calendar months: it deletes the months'
buckets at all three levels and re-inserts the hourly rows from the raw
events; the cascade refills daily and monthly. A test checks rollups equal
raw-event queries afterwards.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from clickhouse_connect.driver.client import Client

SYNC = {"mutations_sync": 2}
KEYS = "license_id, provider, team, app, use_case, model, model_version, feature, stage, region, metric, currency"
HOURLY_SELECT = (
    f"SELECT toStartOfHour(event_time) AS hour, {KEYS}, count() AS events, countIf(status != 'ok') AS errors, "
    "countIf(unit_price IS NULL) AS unpriced, sum(quantity) AS quantity, "
    "sum(ifNull(cost, toDecimal128(0, 18))) AS cost, "
    "uniqExactState(toString(hardware_id)) AS hardware FROM usage_events FINAL "
    "WHERE event_time >= {a:DateTime64(6, 'UTC')} AND event_time < {b:DateTime64(6, 'UTC')} "
    f"GROUP BY hour, {KEYS}")
HOURLY_COLUMNS = f"hour, {KEYS}, events, errors, unpriced, quantity, cost, hardware"


def month_start(t: datetime, add: int = 0) -> datetime:
    m = t.year * 12 + t.month - 1 + add
    return datetime(m // 12, m % 12 + 1, 1, tzinfo=timezone.utc)


def rebuild_rollups(client: Client, start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """Recompute every rollup bucket of the calendar months overlapping [start, end); return those months."""
    a, b = month_start(start), month_start(end - timedelta(microseconds=1), 1)
    params = {"a": a, "b": b}
    for table in ("usage_hourly", "usage_daily"):
        client.command(f"ALTER TABLE {table} DELETE WHERE hour >= {{a:DateTime64(6, 'UTC')}} "
                       "AND hour < {b:DateTime64(6, 'UTC')}", parameters=params, settings=SYNC)
    client.command("ALTER TABLE usage_monthly DELETE WHERE month >= toDate({a:DateTime64(6, 'UTC')}) "
                   "AND month < toDate({b:DateTime64(6, 'UTC')})", parameters=params, settings=SYNC)
    client.command(f"INSERT INTO usage_hourly ({HOURLY_COLUMNS}) {HOURLY_SELECT}", parameters=params)
    return a, b

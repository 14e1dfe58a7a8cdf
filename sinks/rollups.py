"""Rebuilding rollup buckets from raw events (after repricing), with the same SQL as the views.

The views in migration 0004 aggregate each insert into usage_events; these
statements aggregate stored events of a range the same way, after the old
buckets are deleted. A test checks rollups equal raw-event queries afterwards.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from clickhouse_connect.driver.client import Client

SYNC = {"mutations_sync": 2}
DIMS = "license_id, team, app, model, model_version, feature, region, metric, currency"
MEASURES = ("count() AS events, countIf(status != 'ok') AS errors, countIf(unit_price IS NULL) AS unpriced, "
            "sum(quantity) AS quantity, sum(ifNull(cost, toDecimal128(0, 18))) AS cost, "
            "uniqExactState(toString(hardware_id)) AS hardware")
RANGE = "event_time >= {a:DateTime64(6, 'UTC')} AND event_time < {b:DateTime64(6, 'UTC')}"


def _month(t: datetime, add: int = 0) -> datetime:
    m = t.year * 12 + t.month - 1 + add
    return datetime(m // 12, m % 12 + 1, 1, tzinfo=timezone.utc)


def rebuild_rollups(client: Client, start: datetime, end: datetime) -> None:
    """Recompute hourly/daily buckets of the days in [start, end) and monthly buckets of its months."""
    days = {"a": start, "b": end}
    for table, bucket in (("usage_hourly", "toStartOfHour(event_time)"),
                          ("usage_daily", "toDateTime(toStartOfDay(event_time), 'UTC')")):
        client.command(f"ALTER TABLE {table} DELETE WHERE hour >= {{a:DateTime64(6, 'UTC')}} "
                       f"AND hour < {{b:DateTime64(6, 'UTC')}}", parameters=days, settings=SYNC)
        client.command(f"INSERT INTO {table} SELECT {bucket} AS hour, {DIMS}, {MEASURES} FROM usage_events FINAL "
                       f"WHERE {RANGE} GROUP BY hour, {DIMS}", parameters=days)
    months = {"a": _month(start), "b": _month(end - timedelta(microseconds=1), 1)}
    client.command("ALTER TABLE usage_monthly DELETE WHERE month >= toDate({a:DateTime64(6, 'UTC')}) "
                   "AND month < toDate({b:DateTime64(6, 'UTC')})", parameters=months, settings=SYNC)
    client.command("INSERT INTO usage_monthly SELECT toStartOfMonth(event_time) AS month, license_id, model, metric, "
                   "currency, count() AS events, sum(quantity) AS quantity, "
                   "sum(ifNull(cost, toDecimal128(0, 18))) AS cost, uniqExactState(toString(hardware_id)) AS hardware "
                   f"FROM usage_events FINAL WHERE {RANGE} GROUP BY month, license_id, model, metric, currency",
                   parameters=months)

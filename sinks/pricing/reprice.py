"""Repricing a past range with the current catalog, rollups rebuilt to match.

Costs are fixed when events are written, with the catalog in force then. After
loading a corrected catalog, ``meterstream prices reprice --from --to``:

1. updates unit_price, cost, currency and price_version of the raw events in
   [from, to) (a synchronous mutation);
2. rebuilds every rollup bucket of the calendar months the range touches
   from the raw events.

Run it over past ranges with the sink stopped or not writing into them
(an embedded engine cannot be open in two processes anyway).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

from clickhouse_connect.driver.client import Client

from .lookup import price_key, priced_exprs
from ..rollups import rebuild_rollups

log = logging.getLogger(__name__)
SYNC = {"mutations_sync": 2, "allow_nondeterministic_mutations": 1}


def _day(t: datetime) -> datetime:
    return datetime(t.year, t.month, t.day, tzinfo=timezone.utc)


def reprice(client: Client, start: datetime, end: datetime) -> int:
    """Reprice events with start <= event_time < end; return how many events were repriced."""
    start, end = _day(start), _day(end - timedelta(microseconds=1)) + timedelta(days=1)
    where = "event_time >= {a:DateTime64(6, 'UTC')} AND event_time < {b:DateTime64(6, 'UTC')}"
    params = {"a": start, "b": end}
    n = int(str(client.command(f"SELECT count() FROM usage_events WHERE {where}", parameters=params) or 0))
    sets = ", ".join(f"{col} = {expr}" for col, expr in priced_exprs(f"({price_key()})").items())
    client.command(f"ALTER TABLE usage_events UPDATE {sets} WHERE {where}", parameters=params, settings=SYNC)
    rebuild_rollups(client, start, end)
    log.info("repriced %d events in [%s, %s)", n, start, end)
    return n

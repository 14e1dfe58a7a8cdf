"""Retention: TTLs on usage_events and license_decisions, set from the sink's settings at start."""

from __future__ import annotations

import logging

from clickhouse_connect.driver.client import Client

log = logging.getLogger(__name__)


def apply_retention(client: Client, months: int) -> None:
    """Keep ``months`` whole months of raw events (0 = keep all). Rollups are not affected.

    ``ttl_only_drop_parts`` lets ClickHouse drop expired monthly partitions whole
    instead of rewriting them.
    """
    current = client.command("SELECT engine_full FROM system.tables WHERE database = currentDatabase() "
                             "AND name = 'usage_events'")
    has_ttl = " TTL " in str(current)
    if months:
        if f"INTERVAL {months} MONTH" in str(current):
            return  # already so: MODIFY TTL would recompute TTL over every part again
        client.command("ALTER TABLE usage_events MODIFY SETTING ttl_only_drop_parts = 1")
        client.command(f"ALTER TABLE usage_events MODIFY TTL toStartOfMonth(event_time) + INTERVAL {months} MONTH")
        log.info("usage_events keeps %d months", months)
    elif has_ttl:
        client.command("ALTER TABLE usage_events REMOVE TTL")


def apply_decisions_retention(client: Client, days: int) -> None:
    """Keep ``days`` days of validate/check/reserve decisions (0 = keep all); whole monthly parts are dropped."""
    current = str(client.command("SELECT engine_full FROM system.tables WHERE database = currentDatabase() "
                                 "AND name = 'license_decisions'"))
    if days:
        if f"INTERVAL {days} DAY" in current:
            return
        client.command("ALTER TABLE license_decisions MODIFY SETTING ttl_only_drop_parts = 1")
        client.command(f"ALTER TABLE license_decisions MODIFY TTL toDateTime(decided_at) + INTERVAL {days} DAY")
        log.info("license_decisions keeps %d days", days)
    elif " TTL " in current:
        client.command("ALTER TABLE license_decisions REMOVE TTL")

"""Retention: TTLs on usage_events and license_decisions, set from the sink's settings at start."""

from __future__ import annotations

import logging

from clickhouse_connect.driver.client import Client

log = logging.getLogger(__name__)


def apply_retention(client: Client, months: int) -> None:
    """Keep ``months`` whole months of raw events (0 = keep all). Rollups are not affected.

    ``ttl_only_drop_parts`` lets ClickHouse drop expired monthly partitions whole
    instead of rewriting them. The evidence log's message bodies (which hold the events) are emptied by the
    same rule, by the month of their first event; their leaf hashes stay, so later leaves' proofs still work.
    Each table is checked on its own, so an upgraded store gets the body TTL too.
    """
    current = _create(client, "usage_events")
    if months:
        if f"INTERVAL {months} MONTH" not in current:  # else already so: MODIFY TTL recomputes TTL over every part
            client.command("ALTER TABLE usage_events MODIFY SETTING ttl_only_drop_parts = 1")
            client.command(f"ALTER TABLE usage_events MODIFY TTL toStartOfMonth(event_time) + INTERVAL {months} MONTH")
            log.info("usage_events keeps %d months", months)
    elif " TTL " in current:
        client.command("ALTER TABLE usage_events REMOVE TTL")
    bodies = _create(client, "evidence_leaves")
    if months:
        if f"INTERVAL {months} MONTH" not in bodies:
            client.command(f"ALTER TABLE evidence_leaves MODIFY COLUMN body String DEFAULT '' CODEC(ZSTD(1)) "
                           f"TTL toDateTime(toStartOfMonth(entry_time)) + INTERVAL {months} MONTH")
    elif " TTL " in bodies:
        client.command("ALTER TABLE evidence_leaves MODIFY COLUMN body REMOVE TTL")


def _create(client: Client, table: str) -> str:
    return str(client.command("SELECT create_table_query FROM system.tables WHERE database = currentDatabase() "
                              "AND name = {t:String}", parameters={"t": table}))


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

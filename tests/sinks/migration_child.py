"""Child process of test_migrations: a fresh embedded ClickHouse (chDB allows one data directory per
process) holding data of the release before usage event v2, then migrated; prints what it found as JSON."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone

from clickhouse_connect.driver.client import Client

from meterstream.sinks.clickhouse import connect
from meterstream.sinks.migrations import available, migrate, statements

# What usage event v2, the evidence log and the cheaper rollups (0060: no distinct hardware per day;
# 0061: usage_spend; 0062: usage_license_monthly; 0070: evidence bodies) add; the rest was the previous release.
V2_MIGRATIONS = {6, 7, 10, 60, 61, 62, 70}
# Per month and team, the spend usage_spend must hold after the upgrade: what usage_daily held before it
# (January's raw events expired: its spend comes from usage_daily, under source '').
SPEND_TOTALS = {
    "usage_daily": "SELECT toStartOfMonth(hour), team, model, '' AS source, sum(events), sum(quantity), sum(cost) "
                   "FROM usage_daily GROUP BY ALL ORDER BY ALL",
    "usage_spend": "SELECT toStartOfMonth(day), team, model, source, sum(events), sum(quantity), sum(cost) "
                   "FROM usage_spend GROUP BY ALL ORDER BY ALL",
}
ROLLUP_TOTALS = {
    "usage_hourly": "SELECT license_id, toStartOfMonth(hour), metric, sum(events), sum(errors), sum(quantity), "
                    "sum(cost), uniqExactMerge(hardware) FROM usage_hourly GROUP BY ALL ORDER BY ALL",
    "usage_daily": "SELECT license_id, toStartOfMonth(hour), metric, sum(events), sum(errors), sum(quantity), "
                   "sum(cost) FROM usage_daily GROUP BY ALL ORDER BY ALL",
    "usage_monthly": "SELECT license_id, month, metric, sum(events), 0, sum(quantity), sum(cost), "
                     "uniqExactMerge(hardware) FROM usage_monthly GROUP BY ALL ORDER BY ALL",
}
# usage_license_monthly after the upgrade must hold usage_monthly's sums (January's included).
LICENSE_MONTHLY = "SELECT license_id, month, metric, sum(events), 0, sum(quantity), sum(cost) FROM {t} GROUP BY ALL ORDER BY ALL"


def old_release(client: Client) -> None:
    """The previous release's migrations, as it applied them, and v1 events in two months."""
    client.command("CREATE TABLE IF NOT EXISTS schema_migrations (version UInt32, name String, "
                   "applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) ENGINE = ReplacingMergeTree ORDER BY version")
    for version, name, sql in available():
        if version not in V2_MIGRATIONS:
            for stmt in statements(sql):
                client.command(stmt)
            client.insert("schema_migrations", [[version, name]], column_names=["version", "name"])
    rows = []
    for month, n in ((1, 30), (2, 20)):
        for i in range(n):
            t = datetime(2026, month, 1 + i % 27, i % 24, tzinfo=timezone.utc)
            rows.append([f"00000000-0000-4000-8000-{month:04d}{i:08d}", t, f"lic-{i % 3}", "p", i, "chat", "m", "1",
                         "input_tokens", i + 1, "ok" if i % 4 else "error", f"gpu-{i % 2}", "0.5", "USD"])
    client.insert("usage_events", rows, column_names=[
        "event_id", "event_time", "license_id", "producer_id", "sequence", "feature", "model", "model_version",
        "metric", "quantity", "status", "hardware_id", "cost", "currency"])
    # January's raw events expire (sink_retention_months): its rollups must outlive them.
    client.command("ALTER TABLE usage_events DELETE WHERE toMonth(event_time) = 1",
                   settings={"mutations_sync": 2})


def totals(client: Client, queries: dict[str, str] = ROLLUP_TOTALS) -> dict[str, list[list[str]]]:
    return {t: [[str(v) for v in r] for r in client.query(sql).result_rows]
            for t, sql in queries.items()}


def main(path: str) -> None:
    client = connect(f"chdb://{path}")
    old_release(client)
    before = totals(client)
    spend_before = totals(client, {"usage_daily": SPEND_TOTALS["usage_daily"]})["usage_daily"]
    applied = migrate(client)
    again = migrate(client)
    keys = client.query("SELECT DISTINCT provider, use_case, stage FROM usage_hourly").result_rows
    sorting = client.query("SELECT name, sorting_key FROM system.tables WHERE database = currentDatabase() "
                           "AND name IN ('usage_hourly', 'usage_daily', 'usage_monthly') ORDER BY name").result_rows
    spend = totals(client, {"usage_spend": SPEND_TOTALS["usage_spend"]})["usage_spend"]
    by_license = totals(client, {t: LICENSE_MONTHLY.format(t=t) for t in ("usage_monthly", "usage_license_monthly")})
    print(json.dumps({"before": before, "after": totals(client), "applied": applied, "again": again,
                      "spend_before": spend_before, "spend": spend, "by_license": by_license,
                      "keys": [list(k) for k in keys], "sorting": [list(s) for s in sorting]}))


if __name__ == "__main__":
    main(sys.argv[1])

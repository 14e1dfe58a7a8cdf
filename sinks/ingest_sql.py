"""The one insert that writes a flush of usage: the view that unrolls, deduplicates and prices it.

The sink inserts one Avro container (a row per Kafka message, an array per
event field) into a Null table; this module's view on that table writes
``usage_events`` directly, so each event is written once (no staging copy).
For the events of that one block it

* drops the ids already stored (looked up by the block's licenses and time
  range, the table's sort key) and keeps each id once (``LIMIT 1 BY``):
  re-reads after a crash and producer spool replays count once;
* prices them (``pricing/lookup.py``);
* refuses a block that is not the whole container (``container_messages``):
  the check above is only exact within one block, so a split insert fails
  before writing instead of letting two blocks miss each other's ids.

Rollup and evidence views fire on the write into ``usage_events`` as before.
The Null table and view are named after a hash of this SQL and created when a
sink starts (``apply_ingest``): a release that changes the SQL gets its own pair.
"""

from __future__ import annotations

import hashlib
import logging

from clickhouse_connect.driver.client import Client

from .pricing.lookup import price_key, priced_columns

log = logging.getLogger(__name__)

EVENT_COLUMNS = ("event_id, event_time, license_id, producer_id, sequence, feature, model, model_version, metric, "
                 "quantity, status, latency_us, team, app, environment, purpose, hardware_id, region, "
                 "input_hash, output_hash, provider, source, user_id, use_case, data_categories, sensitivity, "
                 "trace_id, stage, decision_id, reservation_id")
TEMPLATE = "usage_ingest"  # migration 0050
_SOURCE = "{source}"


def insert_settings(messages: int) -> dict[str, int]:
    """Settings of the insert of one container of ``messages`` messages (a message is a row).

    The parser cuts its input into chunks of ``max_block_size`` rows (``max_insert_block_size`` on other
    input paths) and, by default, of no byte limit; squashing only joins chunks. So a container of no more
    messages than these is one block (the view refuses any other). ReplacingMergeTree's collapse at
    insert is skipped: the view already writes each id once (measured ~0.6 µs per event). The views on
    ``usage_events`` (rollups, evidence log) run side by side (measured 15-30% less wall time on 2 cores).
    """
    return {"max_block_size": max(messages, 65_536), "max_insert_block_size": max(messages, 1_048_576),
            "input_format_max_block_size_bytes": 0, "optimize_on_insert": 0, "parallel_view_processing": 1}


def view_select(source: str = _SOURCE) -> str:
    """The view's query over the Null table ``source`` (every reference to it reads the inserted block)."""
    return f"""
WITH (SELECT throwIf(count() != any(container_messages),
                     'usage_ingest: the container was split into several blocks; nothing written')
      FROM {source}) AS split
SELECT {EVENT_COLUMNS}, {priced_columns()}, kafka_partition, kafka_offset, kafka_topic
FROM (
    SELECT *, {price_key()} AS price_key
    FROM (SELECT {EVENT_COLUMNS}, kafka_partition, kafka_offset, kafka_topic FROM {source} ARRAY JOIN {EVENT_COLUMNS})
    WHERE split = 0
      AND event_id NOT IN (
          SELECT event_id FROM usage_events
          WHERE license_id IN (SELECT arrayJoin(license_id) FROM {source})
            AND event_time >= (SELECT min(arrayMin(event_time)) FROM {source})
            AND event_time <= (SELECT max(arrayMax(event_time)) FROM {source}))
    LIMIT 1 BY event_id
)"""


def ingest_table() -> str:
    """The Null table of this release's view: ``usage_ingest_`` and a hash of the view's SQL."""
    return f"{TEMPLATE}_{hashlib.sha256(view_select().encode()).hexdigest()[:12]}"


def apply_ingest(client: Client) -> str:
    """Create this release's Null table and its view (idempotent); return the table to insert into."""
    table = ingest_table()
    client.command(f"CREATE TABLE IF NOT EXISTS {table} AS {TEMPLATE}")
    client.command(f"CREATE MATERIALIZED VIEW IF NOT EXISTS {table}_mv TO usage_events AS {view_select(table)}")
    return table


def drop_other_versions(client: Client) -> list[str]:
    """Drop the ingest tables and views of other releases (a sink still writing to one then fails and retries
    instead of writing through a view this release replaced); return their names."""
    keep = ingest_table()
    rows = client.query(
        "SELECT name, engine = 'MaterializedView' FROM system.tables WHERE database = currentDatabase() "
        "AND startsWith(name, {p:String}) ORDER BY 2 DESC", parameters={"p": f"{TEMPLATE}_"}).result_rows
    dropped = []
    for name, is_view in rows:
        if name not in (keep, f"{keep}_mv"):
            client.command(f"DROP {'VIEW' if is_view else 'TABLE'} IF EXISTS {name}")
            log.info("dropped %s (the usage ingest of another release)", name)
            dropped.append(name)
    return dropped

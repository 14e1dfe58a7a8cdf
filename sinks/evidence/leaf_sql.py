"""The per-event usage leaf (kind ``usage.v2``) computed by ClickHouse: how usage was logged before issue 16.

Usage is now logged one leaf per Kafka message (``batch_log.py``); the sink drops this view at start
(``retire_event_leaves``). The SQL stays: logs written before the upgrade hold these leaves, the verifier
still checks them, and ``leaf_select`` rebuilds them in tests. What follows describes that view.

The leaf of a stored event is built in SQL (RowBinary, ClickHouse's own row
encoding, serialised in one call: cheaper than concatenating fields) by a materialized view on
``usage_events``, so it is written by the same insert that moves the event into
the audit trail (exactly once per event id, nothing read back into Python).
The SQL is generated from ``verify.LEAF_SPECS`` so the two cannot drift apart;
``tests/sinks/evidence/test_leaf.py`` checks ClickHouse's bytes against Python's.
"""

from __future__ import annotations

from clickhouse_connect.driver.client import Client

from .verify import LEAF_SPECS

USAGE_KIND = "usage.v2"
VIEW = "usage_evidence_v2_mv"  # the leaf version is in the name: a new version is a new view


def _field(name: str, kind: str) -> str:
    """The ClickHouse expression whose RowBinary serialisation is the field's leaf encoding."""
    base = kind.rstrip("?")
    if base == "time":
        return f"toUnixTimestamp64Micro({name})"
    if base == "decimal6":
        return f"reinterpretAsInt64({name})"  # Decimal(18, 6) is an Int64 of millionths
    if base == "list":
        return f"CAST({name} AS Array(String))"
    if base == "int":
        return f"CAST({name} AS {'Nullable(Int64)' if kind.endswith('?') else 'Int64'})"
    return f"CAST({name} AS {'Nullable(String)' if kind.endswith('?') else 'String'})"


def leaf_expression(kind: str = USAGE_KIND) -> str:
    """SQL for the leaf bytes of a ``usage_events`` row: the prefix, then one RowBinary row of the fields."""
    prefix, fields = LEAF_SPECS[kind]
    literal = prefix.decode().replace("\n", "\\n")
    return (f"concat('{literal}', formatRowNoNewline('RowBinary', "
            + ", ".join(_field(n, k) for n, k in fields) + "))")


def leaf_select() -> str:
    """The evidence_leaves row of each ``usage_events`` row (the view's query; also used to rebuild a log)."""
    return (f"SELECT concat(kafka_topic, '/', toString(kafka_partition)) AS log, kafka_offset, "
            f"toString(event_id) AS entry_id, '{USAGE_KIND}' AS kind, license_id, event_time AS entry_time, "
            f"SHA256(concat(char(0), {leaf_expression()})) AS leaf_hash FROM usage_events")


def retire_event_leaves(client: Client) -> None:
    """Drop the per-event leaf view of earlier releases (applied at sink start, evidence log on or off).

    Its leaves stay in their logs; new usage is logged per message by the writer (``batch_log.py``).
    """
    client.command(f"DROP VIEW IF EXISTS {VIEW}")

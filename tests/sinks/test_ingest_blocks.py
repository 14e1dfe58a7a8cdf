"""The one-insert write is exact only if ClickHouse sees the whole container as one block; these prove that
a split insert writes nothing (and that without the guard it would duplicate), and that failures which are
not about the data are retried, never dead-lettered."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

import pytest
from clickhouse_connect.driver.exceptions import DatabaseError

from meterstream.schemas import BatchCodec
from meterstream.schemas.codec import zz
from meterstream.sinks.avro_container import container
from meterstream.sinks.clickhouse import sibling
from meterstream.sinks.errors import SinkError
from meterstream.sinks.ingest_sql import TEMPLATE, apply_ingest, drop_other_versions, ingest_table, view_select
from meterstream.sinks.usage_writer import UsageWriter, by_partition
from tests.sinks.conftest import Msg, batch

pytestmark = pytest.mark.integration
WHEN = datetime(2026, 7, 1, 9)
SPLIT = {"max_block_size": 1, "min_insert_block_size_rows": 1, "min_insert_block_size_bytes": 1}  # a block per row


def _replayed(lic: str) -> list[dict[str, list[Any]]]:
    """Three messages: 40 events, then the same 40 ids again split across two messages (a spool replay)."""
    first = batch(lic, 40, when=WHEN)
    return [first, {k: v[:25] for k, v in first.items()}, {k: v[25:] for k, v in first.items()}]


def _container(writer: UsageWriter, msgs: list[Msg]) -> bytes:
    """The container the writer builds for ``msgs`` (the same bytes ``UsageWriter._insert`` sends)."""
    tail = zz(len(msgs))
    bodies = [writer.resolver.body(m.value()) + zz(m.partition()) + zz(m.offset()) + zz(len(m.topic()))
              + m.topic().encode() + tail for m in msgs]
    return container(writer._container_schema, bodies)  # noqa: SLF001


def _count(client: Any, lic: str) -> tuple[int, int]:
    row = client.query("SELECT count(), uniqExact(event_id) FROM usage_events WHERE license_id = {l:String}",
                       parameters={"l": lic}).result_rows[0]
    return int(row[0]), int(row[1])


def test_a_container_split_into_blocks_writes_nothing(clickhouse, tag) -> None:
    lic, codec = f"lic-{tag}", BatchCodec()
    writer = UsageWriter(clickhouse, lambda m, r: None)
    msgs = [Msg(codec.encode(b), i, 0, f"split-{tag}") for i, b in enumerate(_replayed(lic))]
    with pytest.raises(DatabaseError, match="split into several blocks"):
        clickhouse.raw_insert(writer.table, insert_block=_container(writer, msgs), fmt="Avro",
                              settings=SPLIT)
    assert _count(clickhouse, lic) == (0, 0)
    clickhouse.raw_insert(writer.table, insert_block=_container(writer, msgs), fmt="Avro")  # one block: exact
    assert _count(clickhouse, lic) == (40, 40)


def test_without_the_guard_a_split_container_would_duplicate(clickhouse, tag) -> None:
    """The control: the same view with its block check disabled, on the same split insert, stores replayed
    ids twice (a block's check runs before the block ahead of it is committed: measured, 25 of the 40)."""
    lic, codec, table = f"lic-{tag}", BatchCodec(), f"unguarded_{tag}"
    writer = UsageWriter(clickhouse, lambda m, r: None)
    unguarded = view_select(table).replace("count() != any(container_messages)", "0")
    assert unguarded != view_select(table)
    clickhouse.command(f"CREATE TABLE {table} AS {TEMPLATE}")
    clickhouse.command(f"CREATE MATERIALIZED VIEW {table}_mv TO usage_events AS {unguarded}")
    try:
        msgs = [Msg(codec.encode(b), i, 0, f"control-{tag}") for i, b in enumerate(_replayed(lic))]
        clickhouse.raw_insert(table, insert_block=_container(writer, msgs), fmt="Avro",
                              settings=SPLIT)
    finally:
        clickhouse.command(f"DROP VIEW {table}_mv")
        clickhouse.command(f"DROP TABLE {table}")
    stored, ids = _count(clickhouse, lic)
    assert ids == 40 and stored > ids


def test_other_releases_ingest_tables_are_dropped(clickhouse) -> None:
    mine = apply_ingest(clickhouse)
    old = f"{TEMPLATE}_000000000000"
    clickhouse.command(f"CREATE TABLE {old} AS {TEMPLATE}")
    clickhouse.command(f"CREATE MATERIALIZED VIEW {old}_mv TO usage_events AS {view_select(old)}")
    assert drop_other_versions(clickhouse) == [f"{old}_mv", old]
    names = {r[0] for r in clickhouse.query("SELECT name FROM system.tables WHERE startsWith(name, 'usage_ingest_')")
             .result_rows}
    assert names == {mine, f"{mine}_mv"} and mine == ingest_table()


class _Failing:
    """The real client, except that inserts fail with ``error`` (the store failing, not the data)."""

    def __init__(self, client: Any, error: Exception) -> None:
        self.client, self.error = client, error

    def raw_insert(self, *args: Any, **kwargs: Any) -> Any:
        raise copy.copy(self.error)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


@pytest.mark.parametrize("error", [ConnectionError("server went away"),
                                   DatabaseError("Code: 252. DB::Exception: Too many parts (300). (TOO_MANY_PARTS)"),
                                   DatabaseError("Code: 60. DB::Exception: Unknown table. (UNKNOWN_TABLE)")],
                         ids=["connection", "too-many-parts", "unknown-table"])
def test_a_failing_store_is_retried_not_dead_lettered(clickhouse, tag, error: Exception) -> None:
    codec, dead = BatchCodec(), []
    writer = UsageWriter(_Failing(clickhouse, error), lambda m, r: dead.append(r))  # type: ignore[arg-type]
    msgs = [Msg(codec.encode(b), i) for i, b in enumerate(_replayed(f"lic-{tag}"))]
    with pytest.raises(SinkError):
        writer.write({codec.schema.fingerprint: (codec.schema.schema, msgs)})  # type: ignore[dict-item]
    assert dead == []


def test_by_partition_keeps_partitions_whole_and_in_order() -> None:
    msgs = [Msg(b"", i, i % 3, "t") for i in range(10)]
    shares = by_partition(msgs, 2)
    assert len(shares) == 2 and sorted(m.offset() for s in shares for m in s) == list(range(10))
    for share in shares:
        for p in {m.partition() for m in share}:
            assert [m.offset() for m in share if m.partition() == p] == [m.offset() for m in msgs if m.partition() == p]
        assert all(m.partition() not in {x.partition() for x in s} for s in shares if s is not share for m in share)
    assert by_partition(msgs, 1) == [msgs] and by_partition([], 2) == []


def test_shares_written_side_by_side_count_once(clickhouse, clickhouse_url, tag) -> None:
    """A flush over four partitions in two concurrent inserts, with re-reads and replays in the same partition
    (as a license's messages are): raw, rollups and evidence leaves hold every event once."""
    codec, topic = BatchCodec(), f"shares-{tag}"
    helper = sibling(clickhouse, clickhouse_url)
    writer = UsageWriter(clickhouse, lambda m, r: None, helpers=[helper], evidence=True)  # the sink's default
    lics = [f"lic-{tag}-{p}" for p in range(4)]
    firsts = [batch(lic, 30, when=WHEN) for lic in lics]

    def flush(batches_per_partition: list[list[dict[str, list[Any]]]], base: int) -> None:
        msgs = [Msg(codec.encode(b), base + j, p, topic) for p, bs in enumerate(batches_per_partition)
                for j, b in enumerate(bs)]
        writer.write({codec.schema.fingerprint: (codec.schema.schema, msgs)})  # type: ignore[dict-item]
    flush([[f] for f in firsts], 0)
    replays = [[f, {k: v[:10] for k, v in f.items()}, batch(lic, 5, when=WHEN)] for f, lic in zip(firsts, lics)]
    flush(replays, 10)
    for lic in lics:
        assert _count(clickhouse, lic) == (35, 35)
        hourly = clickhouse.query("SELECT sum(events) FROM usage_hourly WHERE license_id = {l:String}",
                                  parameters={"l": lic}).result_rows[0][0]
        assert int(hourly) == 35
    leaves = clickhouse.query("SELECT count(), uniqExact(log, kafka_offset) FROM evidence_leaves "
                              "WHERE startsWith(log, {t:String})", parameters={"t": topic}).result_rows[0]
    assert leaves == (16, 16)  # a leaf per message: 4 partitions x (1 + 3 replays)

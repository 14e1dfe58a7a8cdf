"""The usage log per Kafka message: one leaf per (log, offset) whatever crashes and re-reads happen, the body kept."""

from __future__ import annotations

import hashlib
import io
import uuid
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from fastavro import schemaless_writer

from meterstream.schemas import BatchCodec
from meterstream.schemas.resolve import BatchResolver
from meterstream.sinks.evidence import export
from meterstream.sinks.evidence.batch_log import KIND
from meterstream.sinks.evidence.errors import EvidenceError
from meterstream.sinks.evidence.verify import BATCH_KINDS, Failure
from meterstream.sinks.usage_writer import UsageWriter
from tests.sinks.conftest import Msg, batch
from tests.sinks.evidence.conftest import new_harness

pytestmark = [pytest.mark.integration]
WHEN = datetime(2026, 5, 2, 9, tzinfo=timezone.utc)


def _leaves(client: Any, topic: str) -> list[tuple[Any, ...]]:
    return client.query("SELECT log, kafka_offset, entry_id, kind, license_id, toUnixTimestamp64Micro(entry_time), "
                        "leaf_hash, body FROM evidence_leaves WHERE startsWith(log, {t:String}) "
                        "ORDER BY log, kafka_offset", parameters={"t": topic + "/"},
                        column_formats={"leaf_hash": "bytes", "body": "bytes"}).result_rows


def _write(client: Any, msgs: list[Msg], evidence: bool, dead: list[str] | None = None) -> None:
    codec = BatchCodec()
    writer = UsageWriter(client, lambda m, why: (dead if dead is not None else []).append(why), evidence=evidence)
    writer.write({codec.schema.fingerprint: (codec.schema.schema, msgs)})  # type: ignore[dict-item]


def test_a_crash_between_insert_and_append_logs_each_message_once(clickhouse: Any, tmp_path: Path) -> None:
    """The insert happened (a sink killed before its append), then the batch is re-read twice."""
    h = new_harness(clickhouse, tmp_path, per_event=False)
    codec = BatchCodec()
    bodies = [codec.encode(batch(h.lic(f"l{i % 2}"), 20 + i, when=WHEN.replace(minute=i))) for i in range(6)]
    msgs = [Msg(v, 100 + i, i % 2, h.topic) for i, v in enumerate(bodies)]
    _write(clickhouse, msgs, evidence=False)  # stored, not logged: the process died here
    assert _leaves(clickhouse, h.topic) == []
    _write(clickhouse, msgs[::-1], evidence=True)  # the re-read (any order): every message logged
    _write(clickhouse, msgs[2:] + msgs[:1], evidence=True)  # and again, with other boundaries: nothing twice
    rows = _leaves(clickhouse, h.topic)
    assert [(r[0], r[1]) for r in rows] == sorted((f"{h.topic}/{i % 2}", 100 + i) for i in range(6))
    resolver, prefix = BatchResolver(), BATCH_KINDS[KIND][0]
    for (log, offset, entry_id, kind, lic, first, leaf, body) in rows:
        i = offset - 100
        assert (entry_id, kind, lic) == (str(offset), KIND, h.lic(f"l{i % 2}"))
        assert first == int(WHEN.replace(minute=i).timestamp() * 1e6)  # the message's earliest event
        assert body == resolver.body(bodies[i]) and leaf == hashlib.sha256(b"\x00" + prefix + body).digest()
    count = clickhouse.query("SELECT count() FROM usage_events WHERE startsWith(license_id, {t:String})",
                             parameters={"t": h.topic}).result_rows[0][0]
    assert count == sum(20 + i for i in range(6))


def _fastavro(columns: dict[str, list[Any]]) -> bytes:
    """A message as another Avro writer encodes it: blocks with positive counts and no byte sizes."""
    codec, buf = BatchCodec(), io.BytesIO()
    buf.write(codec.header)
    full = codec.decode(codec.encode(columns)).columns  # every v2 column, defaults filled in
    schemaless_writer(buf, codec.schema.parsed, dict(full, quantity=[Decimal(q).scaleb(-6) for q in full["quantity"]]))
    return buf.getvalue()


def test_refused_v1_and_foreign_messages(clickhouse: Any, tmp_path: Path) -> None:
    """A refused message gets no leaf; a v1 message is logged as its v2 body; a fastavro-written one is read."""
    h = new_harness(clickhouse, tmp_path, per_event=False)
    good, v1 = BatchCodec().encode(batch(h.lic("a"), 5, when=WHEN)), BatchCodec(version=1).encode(
        batch(h.lic("a"), 3, when=WHEN.replace(minute=1)))
    bad = BatchCodec().encode(batch(h.lic("a"), 2, when=WHEN, ids=["not-a-uuid"] * 2))
    foreign = _fastavro(batch(h.lic("b"), 4, when=WHEN.replace(minute=2)))
    dead: list[str] = []
    _write(clickhouse, [Msg(good, 0, 0, h.topic), Msg(bad, 1, 0, h.topic), Msg(v1, 2, 0, h.topic),
                        Msg(foreign, 3, 0, h.topic)], True, dead)
    assert len(dead) == 1
    rows = _leaves(clickhouse, h.topic)
    assert [r[1] for r in rows] == [0, 2, 3]
    v2_body = BatchResolver().body(v1)
    assert rows[1][7] == v2_body and v2_body != v1[10:]  # the v1 body resolved to v2: the verifier reads one layout
    assert (rows[1][4], rows[1][5]) == (h.lic("a"), int(WHEN.replace(minute=1).timestamp() * 1e6))
    assert (rows[2][4], rows[2][5]) == (h.lic("b"), int(WHEN.replace(minute=2).timestamp() * 1e6))
    assert rows[2][7] == foreign[10:]


def test_a_body_emptied_by_retention_is_reported_removed(clickhouse: Any, tmp_path: Path) -> None:
    """Retention empties the bodies of expired messages with their events (a column TTL); the leaf stays."""
    h = new_harness(clickhouse, tmp_path, per_event=False)
    h.write(batch(h.lic("a"), 5, when=WHEN), batch(h.lic("a"), 7, when=WHEN.replace(day=20)))
    h.checkpoint()
    first = {"g": h.log(0), "o": 0, "t": h.topic}
    clickhouse.command("ALTER TABLE evidence_leaves UPDATE body = '' WHERE log = {g:String} AND kafka_offset = {o:Int64}",
                       parameters=first, settings={"mutations_sync": 2})  # what the TTL of retention does
    clickhouse.command("ALTER TABLE usage_events DELETE WHERE kafka_topic = {t:String} AND kafka_offset = {o:Int64}",
                       parameters=first, settings={"mutations_sync": 2})
    start, end = datetime(2026, 5, 1, tzinfo=timezone.utc), datetime(2026, 6, 1, tzinfo=timezone.utc)
    bundle = export.export(clickhouse, h.lic("a"), start, end, retained_from=datetime(2026, 5, 10, tzinfo=timezone.utc))
    assert bundle["entries"][0]["body"] is None
    assert h.verify(bundle).startswith("OK: 1 entries (7 events) verified, 1 removed by retention")
    with pytest.raises(Failure, match="body is missing"):  # not older than what retention removed: a failure
        h.verify(export.export(clickhouse, h.lic("a"), start, end))


def test_prove_an_event_gives_its_message(clickhouse: Any, tmp_path: Path) -> None:
    """``meterstream evidence prove EVENT_ID`` on a log per message: the event's message, every event of it."""
    h = new_harness(clickhouse, tmp_path, per_event=False)
    ids = [str(uuid.uuid4()) for _ in range(6)]
    h.write(batch(h.lic("a"), 4, when=WHEN), batch(h.lic("a"), 6, when=WHEN.replace(hour=10), ids=ids))
    h.checkpoint()
    bundle = export.prove(clickhouse, ids[3])
    [entry] = bundle["entries"]
    assert (entry["kind"], entry["id"], entry["index"]) == (KIND, "1", 1)
    assert [r["event_id"] for r in entry["records"]] == ids
    assert h.verify(bundle).startswith("OK: 1 entries (6 events) verified")
    with pytest.raises(EvidenceError, match="no leaf"):
        export.prove(clickhouse, str(uuid.uuid4()))

"""The honest log verifies; every kind of tampering fails and the verifier names what."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from meterstream.schemas import BatchCodec
from meterstream.schemas.codec import MAGIC
from meterstream.sinks.evidence.errors import EvidenceError
from meterstream.sinks.evidence.leaf_sql import leaf_select
from meterstream.sinks.evidence.log import Cadence, EvidenceLog
from meterstream.sinks.evidence.signing import Signer
from meterstream.sinks.evidence.store import LogStore
from meterstream.sinks.evidence.verify import BATCH_KINDS, Failure, VerifierKey, verify_bundle
from tests.sinks.conftest import batch, tagged
from tests.sinks.evidence.conftest import ORIGIN, Harness, new_harness, new_signer

pytestmark = [pytest.mark.integration]


@pytest.fixture(params=["message", "event"])
def harness(clickhouse: Any, tmp_path: Path, request: pytest.FixtureRequest) -> Harness:
    """Each test on a log per Kafka message (usage.batch.v2, how the sink logs usage now) and on a log per
    event (usage.v2, what logs written before issue 16 hold and the verifier still checks)."""
    return new_harness(clickhouse, tmp_path, per_event=request.param == "event")


def _fill(h: Harness) -> None:
    """Three flushes of one license interleaved with another on one partition, plus a second partition."""
    for hour in range(3):
        h.write(batch(h.lic("a"), 40, when=datetime(2026, 5, 2, hour)),
                tagged(batch(h.lic("b"), 30, when=datetime(2026, 5, 2, hour)), data_categories=("pii", "ü"),
                       trace_id="t-1"))
    h.write(batch(h.lic("a"), 300, when=datetime(2026, 5, 3)), partition=1)
    h.checkpoint()


def test_honest_log_verifies(harness: Harness) -> None:
    _fill(harness)
    bundle = harness.bundle(harness.lic("a"))
    assert len(bundle["logs"]) == 2
    if harness.per_event:
        assert len(bundle["entries"]) == 420
        assert harness.verify(bundle).startswith("OK: 420 entries verified")
    else:  # license a's four messages: three of 40 events on partition 0, one of 300 on partition 1
        assert [len(e["records"]) for e in bundle["entries"]] == [40, 40, 40, 300]
        assert harness.verify(bundle).startswith("OK: 4 entries (420 events) verified")


SYNC = {"mutations_sync": 2}


def _first_event(h: Harness, n: int = 0) -> str:
    rows = h.client.query("SELECT toString(event_id) FROM usage_events WHERE kafka_topic = {t:String} AND "
                          "kafka_partition = 0 AND license_id = {l:String} ORDER BY kafka_offset, event_id LIMIT 1 OFFSET {n:UInt32}",
                          parameters={"t": h.topic, "l": h.lic("a"), "n": n}).result_rows
    return str(rows[0][0])


def _leaf_of(h: Harness, event_id: str) -> str:
    """The entry id of the leaf that covers a stored event: the event's id, or its message's offset."""
    if h.per_event:
        return event_id
    return str(h.client.command("SELECT kafka_offset FROM usage_events WHERE event_id = toUUID({e:String})",
                                parameters={"e": event_id}))


def _fails(h: Harness, bundle: dict, witnesses: list[str] = ()) -> str:  # type: ignore[assignment]
    with pytest.raises(Failure) as err:
        h.verify(bundle, witnesses)
    return str(err.value)


def test_changed_event_is_named(harness: Harness) -> None:
    _fill(harness)
    victim = _first_event(harness, n=7)
    harness.client.command("ALTER TABLE usage_events UPDATE model = 'other' WHERE event_id = toUUID({e:String})",
                           parameters={"e": victim}, settings=SYNC)
    why = _fails(harness, harness.bundle(harness.lic("a")))
    assert victim in why and ("differs from the leaf the log holds" if harness.per_event
                              else "differs from the event the log holds") in why


def test_repricing_does_not_break_evidence(harness: Harness) -> None:
    _fill(harness)
    harness.client.command("ALTER TABLE usage_events UPDATE price_version = 99, currency = 'EUR' "
                           "WHERE kafka_topic = {t:String}", parameters={"t": harness.topic}, settings=SYNC)
    bundle = harness.bundle(harness.lic("a"))
    assert harness.verify(bundle).startswith("OK: 420" if harness.per_event else "OK: 4 entries (420 events)")


def test_deleted_event_is_named(harness: Harness) -> None:
    _fill(harness)
    victim = _first_event(harness, n=3)
    harness.client.command("ALTER TABLE usage_events DELETE WHERE event_id = toUUID({e:String})",
                           parameters={"e": victim}, settings=SYNC)
    why = _fails(harness, harness.bundle(harness.lic("a")))
    assert victim in why and "missing from the store" in why


def test_deleting_the_leaf_too_breaks_every_later_proof(harness: Harness) -> None:
    _fill(harness)
    victim = _first_event(harness, n=3)
    leaf = _leaf_of(harness, victim)
    harness.client.command("ALTER TABLE usage_events DELETE WHERE event_id = toUUID({e:String})",
                           parameters={"e": victim}, settings=SYNC)
    harness.client.command("ALTER TABLE evidence_leaves DELETE WHERE log = {g:String} AND entry_id = {e:String}",
                           parameters={"g": harness.log(0), "e": leaf}, settings=SYNC)
    with pytest.raises(EvidenceError, match="leaves deleted"):  # the exporter itself refuses
        harness.bundle(harness.lic("a"))


def test_reordered_events_are_named(harness: Harness) -> None:
    """Two stored events swap places in the log (the leaves at their positions are exchanged)."""
    _fill(harness)
    a, b = _leaf_of(harness, _first_event(harness, n=0)), _leaf_of(harness, _first_event(harness, n=50))
    assert a != b
    harness.client.command(
        "ALTER TABLE evidence_leaves UPDATE leaf_hash = if(entry_id = {a:String}, "
        "(SELECT any(leaf_hash) FROM evidence_leaves WHERE log = {g:String} AND entry_id = {b:String}), "
        "(SELECT any(leaf_hash) FROM evidence_leaves WHERE log = {g:String} AND entry_id = {a:String})) "
        "WHERE log = {g:String} AND entry_id IN ({a:String}, {b:String})",
        parameters={"a": a, "b": b, "g": harness.log(0)}, settings={**SYNC, "allow_nondeterministic_mutations": 1})
    why = _fails(harness, harness.bundle(harness.lic("a")))
    assert a in why and "differs from the leaf the log holds at its position" in why


def test_reordered_bundle_entries_are_named(harness: Harness) -> None:
    _fill(harness)
    bundle = harness.bundle(harness.lic("a"))
    bundle["entries"][0], bundle["entries"][2] = bundle["entries"][2], bundle["entries"][0]  # both of partition 0
    assert "out of order" in _fails(harness, bundle)


def test_changed_event_fails_the_proof_without_the_exporters_word(harness: Harness) -> None:
    """Per message, the insider edits the stored body as well, so record and body agree: only the proof tells."""
    _fill(harness)
    victim = _first_event(harness, n=7)
    harness.client.command("ALTER TABLE usage_events UPDATE quantity = 2 WHERE event_id = toUUID({e:String})",
                           parameters={"e": victim}, settings=SYNC)
    if not harness.per_event:
        _edit_logged_body(harness, victim, quantity=2_000_000)
    bundle = harness.bundle(harness.lic("a"))
    for e in bundle["entries"]:
        del e["leaf_hash"]
    why = _fails(harness, bundle)
    named = victim if harness.per_event else f"usage.batch.v2 {_leaf_of(harness, victim)},"
    assert named in why and "does not lead to the signed root" in why


def _edit_logged_body(h: Harness, event_id: str, **values: Any) -> None:
    """Rewrite the body stored beside the leaf of ``event_id``'s message with new values for that event."""
    offset = int(_leaf_of(h, event_id))
    body = h.client.query("SELECT body FROM evidence_leaves WHERE log = {g:String} AND kafka_offset = {o:Int64}",
                          parameters={"g": h.log(0), "o": offset}, column_formats={"body": "bytes"}).result_rows[0][0]
    codec = BatchCodec()
    columns = codec.decode(MAGIC + codec.schema.fingerprint + bytes(body)).columns
    at = columns["event_id"].index(event_id)
    for name, value in values.items():
        columns[name][at] = value
    edited = codec.encode(columns)[len(MAGIC) + len(codec.schema.fingerprint):]
    assert edited != body
    h.client.command("ALTER TABLE evidence_leaves UPDATE body = unhex({b:String}) WHERE log = {g:String} "
                     "AND kafka_offset = {o:Int64}", parameters={"b": edited.hex(), "g": h.log(0), "o": offset},
                     settings=SYNC)


def _rewrite_history(h: Harness, signer: Signer) -> None:
    """An insider edits one event and rebuilds the log from the edited audit trail (per message: from the
    logged bodies, the victim's edited the same way), then signs it."""
    victim = _first_event(h, n=5)
    h.client.command("ALTER TABLE usage_events UPDATE model = 'cheaper' WHERE event_id = toUUID({e:String})",
                     parameters={"e": victim}, settings=SYNC)
    if not h.per_event:
        _edit_logged_body(h, victim, model="cheaper")
        h.client.command("ALTER TABLE evidence_leaves UPDATE leaf_hash = SHA256(concat(char(0), {p:String}, body)) "
                         "WHERE log = {g:String} AND kafka_offset = {o:Int64}",
                         parameters={"p": BATCH_KINDS["usage.batch.v2"][0].decode(), "g": h.log(0),
                                     "o": int(_leaf_of(h, victim))}, settings=SYNC)
    for table in ("evidence_leaves", "evidence_tiles", "evidence_checkpoints") if h.per_event else (
            "evidence_tiles", "evidence_checkpoints"):
        h.client.command(f"ALTER TABLE {table} DELETE WHERE log LIKE {{p:String}}", parameters={"p": h.topic + "/%"},
                         settings=SYNC)
    if h.per_event:
        h.client.command(f"INSERT INTO evidence_leaves (log, kafka_offset, entry_id, kind, license_id, entry_time, "
                         f"leaf_hash) {leaf_select()} WHERE kafka_topic = {{t:String}}",
                         parameters={"t": h.topic})
    h.signer = signer
    h.evidence = EvidenceLog(LogStore(h.client), signer, Cadence(10**9, 10**9), ORIGIN)
    h.checkpoint()


def test_history_rebuilt_and_signed_by_another_key_fails(harness: Harness, tmp_path: Path) -> None:
    _fill(harness)
    honest_key = harness.signer.vkey()
    _rewrite_history(harness, new_signer(tmp_path / "other.key"))
    bundle = harness.bundle(harness.lic("a"))
    with pytest.raises(Failure, match="carries no signature by key"):
        verify_bundle(bundle, VerifierKey.parse(honest_key))


def test_history_rebuilt_with_the_key_is_a_fork_a_witness_catches(harness: Harness) -> None:
    _fill(harness)
    witness = [cp.note for cp in LogStore(harness.client).checkpoints(harness.log(0))]
    _rewrite_history(harness, harness.signer)
    harness.write(batch(harness.lic("a"), 10, when=datetime(2026, 5, 4)))
    harness.checkpoint()
    bundle = harness.bundle(harness.lic("a"))
    assert harness.verify(bundle).startswith("OK")  # self-consistent: only a witness's copy can tell
    why = _fails(harness, bundle, witness)
    assert "fork" in why and harness.log(0) in why

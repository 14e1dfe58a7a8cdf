"""The honest log verifies; every kind of tampering fails and the verifier names what."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from meterstream.sinks.evidence.errors import EvidenceError
from meterstream.sinks.evidence.leaf_sql import leaf_select
from meterstream.sinks.evidence.log import Cadence, EvidenceLog
from meterstream.sinks.evidence.signing import Signer
from meterstream.sinks.evidence.store import LogStore
from meterstream.sinks.evidence.verify import Failure, VerifierKey, verify_bundle
from tests.sinks.conftest import batch, tagged
from tests.sinks.evidence.conftest import ORIGIN, Harness, new_signer

pytestmark = [pytest.mark.integration]


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
    assert len(bundle["entries"]) == 420 and len(bundle["logs"]) == 2
    assert harness.verify(bundle).startswith("OK: 420 entries verified")


SYNC = {"mutations_sync": 2}


def _first_event(h: Harness, n: int = 0) -> str:
    rows = h.client.query("SELECT toString(event_id) FROM usage_events WHERE kafka_topic = {t:String} AND "
                          "kafka_partition = 0 AND license_id = {l:String} ORDER BY kafka_offset, event_id LIMIT 1 OFFSET {n:UInt32}",
                          parameters={"t": h.topic, "l": h.lic("a"), "n": n}).result_rows
    return str(rows[0][0])


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
    assert victim in why and "differs from the leaf the log holds" in why


def test_repricing_does_not_break_evidence(harness: Harness) -> None:
    _fill(harness)
    harness.client.command("ALTER TABLE usage_events UPDATE price_version = 99, currency = 'EUR' "
                           "WHERE kafka_topic = {t:String}", parameters={"t": harness.topic}, settings=SYNC)
    assert harness.verify(harness.bundle(harness.lic("a"))).startswith("OK: 420")


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
    for table, col in (("usage_events", "toString(event_id)"), ("evidence_leaves", "entry_id")):
        harness.client.command(f"ALTER TABLE {table} DELETE WHERE {col} = {{e:String}}", parameters={"e": victim},
                               settings=SYNC)
    with pytest.raises(EvidenceError, match="leaves deleted"):  # the exporter itself refuses
        harness.bundle(harness.lic("a"))


def test_reordered_events_are_named(harness: Harness) -> None:
    """Two stored events swap places in the log (the leaves at their positions are exchanged)."""
    _fill(harness)
    a, b = _first_event(harness, n=0), _first_event(harness, n=50)
    harness.client.command(
        "ALTER TABLE evidence_leaves UPDATE leaf_hash = if(entry_id = {a:String}, "
        "(SELECT any(leaf_hash) FROM evidence_leaves WHERE entry_id = {b:String}), "
        "(SELECT any(leaf_hash) FROM evidence_leaves WHERE entry_id = {a:String})) "
        "WHERE entry_id IN ({a:String}, {b:String})", parameters={"a": a, "b": b},
        settings={**SYNC, "allow_nondeterministic_mutations": 1})
    why = _fails(harness, harness.bundle(harness.lic("a")))
    assert a in why and "swapped" in why


def test_reordered_bundle_entries_are_named(harness: Harness) -> None:
    _fill(harness)
    bundle = harness.bundle(harness.lic("a"))
    bundle["entries"][4], bundle["entries"][9] = bundle["entries"][9], bundle["entries"][4]
    assert "out of order" in _fails(harness, bundle)


def test_changed_event_fails_the_proof_without_the_exporters_word(harness: Harness) -> None:
    _fill(harness)
    victim = _first_event(harness, n=7)
    harness.client.command("ALTER TABLE usage_events UPDATE quantity = 2 WHERE event_id = toUUID({e:String})",
                           parameters={"e": victim}, settings=SYNC)
    bundle = harness.bundle(harness.lic("a"))
    for e in bundle["entries"]:
        del e["leaf_hash"]
    why = _fails(harness, bundle)
    assert victim in why and "does not lead to the signed root" in why


def _rewrite_history(h: Harness, signer: Signer) -> None:
    """An insider edits one event and rebuilds the log from the edited audit trail, then signs it."""
    victim = _first_event(h, n=5)
    h.client.command("ALTER TABLE usage_events UPDATE model = 'cheaper' WHERE event_id = toUUID({e:String})",
                     parameters={"e": victim}, settings=SYNC)
    for table in ("evidence_leaves", "evidence_tiles", "evidence_checkpoints"):
        h.client.command(f"ALTER TABLE {table} DELETE WHERE log LIKE {{p:String}}", parameters={"p": h.topic + "/%"},
                         settings=SYNC)
    h.client.command(f"INSERT INTO evidence_leaves {leaf_select()} WHERE kafka_topic = {{t:String}}",
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

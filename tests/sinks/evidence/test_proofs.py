"""Proofs across tiles, consistency bundles, pruning, alerts in their own log, idempotent catch-up."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from meterstream.sinks.evidence import export
from meterstream.sinks.evidence.errors import EvidenceError
from meterstream.sinks.evidence.log import Cadence, EvidenceLog
from meterstream.sinks.evidence.pruning import prune
from meterstream.sinks.evidence.record_log import RecordLog
from meterstream.sinks.evidence.store import LogStore
from meterstream.sinks.record_sink import ALERT_COLUMNS, RecordTarget, alert_row
from meterstream.sinks.batching import Item
from tests.sinks.conftest import Msg, batch
from tests.sinks.evidence.conftest import ORIGIN, Harness

pytestmark = [pytest.mark.integration]


def _grow(h: Harness, flushes: int, per: int = 150, day: int = 2) -> None:
    for f in range(flushes):
        h.write(batch(h.lic("a"), per, when=datetime(2026, 5, day, f % 24, f // 24)))
        h.checkpoint()


def test_proofs_across_tiles_and_consistency_between_every_checkpoint(harness: Harness) -> None:
    _grow(harness, 6)  # 900 leaves: 3 complete tiles, a checkpoint after each flush
    assert len(LogStore(harness.client).tiles(harness.log())) == 3
    bundle = harness.bundle(harness.lic("a"))
    assert harness.verify(bundle) == f"OK: 900 entries verified against 1 signed log(s): {ORIGIN}/{harness.log()} size 900"
    assert len(bundle["logs"][0]["earlier"]) == 5
    event = bundle["entries"][600]["id"]
    one = export.prove(harness.client, event)
    assert one["entries"][0]["index"] == 600 and harness.verify(one).startswith("OK: 1 entries")
    proof = export.consistency(harness.client, harness.log(), 300, 750)
    assert harness.verify(proof).startswith("OK: 0 entries")
    with pytest.raises(EvidenceError, match="need stored checkpoints"):
        export.consistency(harness.client, harness.log(), 301, 750)


def test_catch_up_is_idempotent_and_a_fresh_process_resumes(harness: Harness) -> None:
    """Re-written flushes add no leaves; a sink that restarts mid-tile rebuilds the same tree."""
    cols = batch(harness.lic("a"), 300, when=datetime(2026, 5, 2))
    harness.write(cols, offsets=[0])
    harness.write(cols, offsets=[0])  # a re-read after a crash between write and commit
    harness.write(cols, offsets=[1])  # a spool replay: same events, new message
    harness.evidence = EvidenceLog(LogStore(harness.client), harness.signer, Cadence(10**9, 10**9), ORIGIN)
    harness.write(batch(harness.lic("a"), 10, when=datetime(2026, 5, 3)))
    harness.checkpoint()
    assert LogStore(harness.client).checkpoints(harness.log())[-1].size == 310
    assert harness.verify(harness.bundle(harness.lic("a"))).startswith("OK: 310 entries")


def test_pruned_range_keeps_later_proofs_and_checkpoints(harness: Harness) -> None:
    _grow(harness, 4, per=128, day=2)  # 512 leaves of May 2: two tiles
    _grow(harness, 2, per=128, day=20)  # 256 more of May 20
    pruned = prune(harness.client, datetime(2026, 5, 10, tzinfo=timezone.utc))
    assert pruned[harness.log()] == 2
    harness.client.command("ALTER TABLE usage_events DELETE WHERE kafka_topic = {t:String} AND event_time < "
                           "'2026-05-10'", parameters={"t": harness.topic}, settings={"mutations_sync": 2})
    later = export.export(harness.client, harness.lic("a"), datetime(2026, 5, 15, tzinfo=timezone.utc),
                          datetime(2026, 6, 1, tzinfo=timezone.utc))
    assert harness.verify(later).startswith("OK: 256 entries")
    assert harness.verify(export.consistency(harness.client, harness.log(), 256, 768)).startswith("OK")
    with pytest.raises(EvidenceError, match="pruned by retention"):
        export.consistency(harness.client, harness.log(), 384, 768)


def _alert(h: Harness, n: int) -> dict[str, Any]:
    return {"alert_id": f"{h.topic}-al-{n}", "kind": "threshold", "severity": "warning", "license_id": h.lic("a"),
            "tenant": "t", "team": "x", "metric": "input_tokens", "period": "2026-05", "threshold": 80,
            "message": f"80% reached ({n})", "evidence": {"used": str(n)}, "event_id": None,
            "created_at": datetime(2026, 5, 2, 12, n, tzinfo=timezone.utc)}


def test_alerts_are_logged_once_in_their_partitions_log(harness: Harness) -> None:
    target = RecordTarget(harness.client, subject="alert", table="alerts", columns=ALERT_COLUMNS, row=alert_row,
                          evidence=RecordLog(harness.client, kind="alert.v1", id_field="alert_id",
                                             time_field="created_at",
                                             record=lambda row: dict(zip(ALERT_COLUMNS, row))))
    topic = harness.topic.replace("usage", "alerts")
    items = [Item(Msg(b"", i, 0, topic), alert_row(_alert(harness, i)), 1) for i in range(3)]
    target.write(items)
    target.write(items[1:] + [Item(Msg(b"", 7, 0, topic), alert_row(_alert(harness, 0)), 1)])  # redelivered
    harness.write(batch(harness.lic("a"), 5, when=datetime(2026, 5, 2)))
    harness.evidence.checkpoint_all([f"{topic}/0", harness.log()])
    bundle = harness.bundle(harness.lic("a"))
    kinds = [e["kind"] for e in bundle["entries"]]
    assert kinds.count("alert.v1") == 3 and kinds.count("usage.v2") == 5
    assert harness.verify(bundle).startswith("OK: 8 entries verified against 2 signed log(s)")
    bundle["entries"][0]["record"]["message"] = "nothing happened"
    with pytest.raises(Exception, match="al-0"):
        harness.verify(bundle)

"""The checkpointer visits what the writers touched (and every log now and then), and an idle round asks nothing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from meterstream.sinks.evidence.checkpointer import Checkpointer
from meterstream.sinks.evidence.log import Cadence, EvidenceLog
from meterstream.sinks.evidence.merkle import mth
from meterstream.sinks.evidence.store import LogStore
from meterstream.sinks.evidence.touched import TouchedLogs
from tests.sinks.conftest import batch
from tests.sinks.evidence.conftest import ORIGIN, Harness

pytestmark = [pytest.mark.integration]


class Counting:
    """The test's ClickHouse client, counting the statements the checkpointer sends."""

    def __init__(self, client: Any) -> None:
        self.client, self.calls = client, 0

    def __getattr__(self, name: str) -> Any:
        self.calls += 1
        return getattr(self.client, name)


def _signed(h: Harness, partition: int) -> int:
    cps = LogStore(h.client).checkpoints(h.log(partition))
    return cps[-1].size if cps else 0


def _leaf_root(h: Harness, partition: int) -> bytes:
    rows = h.client.query("SELECT leaf_hash FROM evidence_leaves WHERE log = {g:String} ORDER BY kafka_offset, entry_id",
                          parameters={"g": h.log(partition)}).result_rows
    return mth([r[0] if isinstance(r[0], bytes) else str(r[0]).encode("latin-1") for r in rows])


def test_touched_and_unsigned_logs_are_visited_and_the_rest_on_a_full_round(harness: Harness) -> None:
    client = Counting(harness.client)
    evidence = EvidenceLog(LogStore(client), harness.signer, Cadence(1, 10**9), ORIGIN)  # type: ignore[arg-type]
    touched = TouchedLogs()
    ckpt = Checkpointer(evidence, touched, full_s=10**9)
    harness.write(batch(harness.lic("a"), 300, when=datetime(2026, 5, 2)), partition=0)
    ckpt.round()  # the first round visits every log in the store
    assert _signed(harness, 0) == 300
    calls = client.calls
    ckpt.round()
    assert client.calls == calls  # nothing touched, nothing unsigned: no query at all

    harness.write(batch(harness.lic("b"), 200, when=datetime(2026, 5, 2)), partition=1)
    ckpt.round()
    assert _signed(harness, 1) == 0  # not touched (no writer told it): waits for a full round
    touched.add([harness.log(1)])
    ckpt.round()
    assert _signed(harness, 1) == 200

    harness.write(batch(harness.lic("a"), 500, when=datetime(2026, 5, 3)), partition=0)
    ckpt.full_s = 0.0  # a full round is due: every log, touched or not
    ckpt.round()
    assert _signed(harness, 0) == 800
    assert evidence.logs[harness.log(0)].tree.root() == _leaf_root(harness, 0)
    assert evidence.logs[harness.log(1)].tree.root() == _leaf_root(harness, 1)
    assert harness.verify(harness.bundle(harness.lic("a"))).startswith("OK: 800 entries")


def test_a_log_grown_but_not_yet_due_is_signed_when_its_time_comes(harness: Harness) -> None:
    evidence = EvidenceLog(LogStore(harness.client), harness.signer, Cadence(10**9, 10**9), ORIGIN)
    touched = TouchedLogs()
    ckpt = Checkpointer(evidence, touched, full_s=10**9)
    ckpt.round()
    harness.write(batch(harness.lic("a"), 100, when=datetime(2026, 5, 2)))
    touched.add([harness.log()])
    ckpt.round()
    assert _signed(harness, 0) == 0 and harness.log() in evidence.unsigned()  # grown, not due
    evidence.cadence = Cadence(10**9, 0.0)  # its seconds have passed; no writer touches it again
    ckpt.round()
    assert _signed(harness, 0) == 100 and not evidence.unsigned()

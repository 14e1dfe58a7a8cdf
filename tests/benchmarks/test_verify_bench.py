"""What the offline verifier costs an auditor per event: one leaf per message against one leaf per event.

Run: ``TZ=UTC .venv/bin/python -m pytest tests/benchmarks/test_verify_bench.py -m benchmark -s``

The same events are put in two signed logs: as ``usage.batch.v2`` leaves (one per producer message, the
body decoded and each event matched to its record) and, the baseline measured in the same run, as
``usage.v2`` leaves (one per event, each with its own inclusion proof). No ClickHouse: the bundles are
built in memory the way the exporter lays them out.
"""

from __future__ import annotations

import base64
import functools
import json
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from meterstream.sinks.evidence import merkle
from meterstream.sinks.evidence.signing import Signer
from meterstream.sinks.evidence.verify import BUNDLE_FORMAT, VerifierKey, leaf_bytes, leaf_hash, verify_bundle
from tests.sinks.evidence.test_verify_batch import EVENT_KIND, LIC, LOG, PREFIX, T0, body_of, columns, records

pytestmark = [pytest.mark.benchmark]
MESSAGES, PER_MESSAGE, ROUNDS = 100, 500, 2


def _signed(signer: Signer, leaves: list[bytes], entries: list[dict[str, Any]]) -> dict[str, Any]:
    """The bundle: each entry with its stored leaf hash and inclusion proof at the log's signed size."""
    @functools.cache
    def subtree(lo: int, hi: int) -> bytes:
        if hi - lo == 1:
            return leaves[lo]
        k = 1 << ((hi - lo - 1).bit_length() - 1)
        return merkle.node_hash(subtree(lo, lo + k), subtree(lo + k, hi))

    b64 = lambda h: base64.b64encode(h).decode()  # noqa: E731
    for e in entries:
        e.update(leaf_hash=b64(leaves[e["index"]]),
                 inclusion=[b64(h) for h in merkle.inclusion_proof(e["index"], len(leaves), subtree)])
    return {"format": BUNDLE_FORMAT, "scope": {"license": LIC, "retained_from": None},
            "logs": [{"origin": LOG, "checkpoint": signer.checkpoint(LOG, len(leaves), subtree(0, len(leaves))),
                      "earlier": []}], "entries": entries}


def _bundles(signer: Signer) -> tuple[str, str]:
    batch_leaves, batch_entries, event_leaves, event_entries = [], [], [], []
    for m in range(MESSAGES):
        cols = columns(PER_MESSAGE, t0=T0 + m * 10**9)
        body, recs = body_of(cols), records(cols)
        batch_entries.append({"log": LOG, "index": m, "kind": "usage.batch.v2", "id": str(m), "time": T0,
                              "body": base64.b64encode(body).decode(), "records": recs,
                              "not_covered": [None] * len(recs)})
        batch_leaves.append(leaf_hash(PREFIX + body))
        for rec in recs:
            event_entries.append({"log": LOG, "index": len(event_leaves), "kind": EVENT_KIND, "id": rec["event_id"],
                                  "time": rec["event_time"], "record": rec, "not_covered": None})
            event_leaves.append(leaf_hash(leaf_bytes(EVENT_KIND, rec)))
    return (json.dumps(_signed(signer, batch_leaves, batch_entries)),
            json.dumps(_signed(signer, event_leaves, event_entries)))


def _run(text: str, key: VerifierKey) -> tuple[float, float, float, str]:
    """(wall s, process CPU s, of which JSON parsing CPU s, summary) of verifying one bundle as an auditor does."""
    w0, c0 = time.perf_counter(), time.process_time()
    bundle = json.loads(text)
    c1 = time.process_time()
    summary = verify_bundle(bundle, key)
    return time.perf_counter() - w0, time.process_time() - c0, c1 - c0, summary


def test_verifier_cost_per_event_batch_leaves_against_event_leaves() -> None:
    signer = Signer(Ed25519PrivateKey.generate(), "bench")
    key = VerifierKey.parse(signer.vkey())
    batch_text, event_text = _bundles(signer)
    n = MESSAGES * PER_MESSAGE
    print(f"\n{n:,} events in {MESSAGES} messages; bundle size per event: batch leaves "
          f"{len(batch_text) / n:,.0f} bytes, event leaves (baseline) {len(event_text) / n:,.0f} bytes")
    for r in range(ROUNDS):
        for name, text in (("event leaves (baseline)", event_text), ("batch leaves", batch_text)):
            wall, cpu, parse, summary = _run(text, key)
            assert summary.startswith("OK: ")
            print(f"round {r + 1} {name:24} wall {wall * 1e6 / n:6.1f} us/event, CPU {cpu * 1e6 / n:6.1f} us/event "
                  f"(JSON {parse * 1e6 / n:4.1f}); {summary.split(' against')[0]}")

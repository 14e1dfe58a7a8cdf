"""Proof generation in a 10-million-leaf evidence log.

Run: ``TZ=UTC .venv/bin/python -m pytest tests/benchmarks/test_evidence_proof.py -m benchmark -s``

Leaves are generated in ClickHouse (``numbers()``), a million at a time, and the
tree is caught up after each million as the sink would after each flush.
"""

from __future__ import annotations

import random
import time
import uuid

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from meterstream.sinks.evidence.log import Cadence, EvidenceLog
from meterstream.sinks.evidence.proofs import TreeReader
from meterstream.sinks.evidence.signing import Signer
from meterstream.sinks.evidence.store import LogStore
from meterstream.sinks.evidence.verify import root_from_inclusion

pytestmark = [pytest.mark.benchmark, pytest.mark.integration]
LEAVES, CHUNK = 10_000_000, 1_000_000


def test_proof_in_ten_million_leaf_log(clickhouse) -> None:
    log = f"bench-{uuid.uuid4().hex[:6]}/0"
    evidence = EvidenceLog(LogStore(clickhouse), Signer(Ed25519PrivateKey.generate(), "bench"),
                           Cadence(10**9, 10**9), "bench")
    t0, build = time.perf_counter(), 0.0
    for start in range(0, LEAVES, CHUNK):
        clickhouse.command(
            "INSERT INTO evidence_leaves SELECT {g:String}, number, toString(number), 'bench', 'lic', "
            "now64(6), SHA256(concat(char(0), toString(number))) FROM numbers({a:UInt64}, {n:UInt64})",
            parameters={"g": log, "a": start, "n": CHUNK})
        t1 = time.perf_counter()
        evidence.catch_up([log])
        build += time.perf_counter() - t1
    cp = evidence.maybe_checkpoint(log, force=True)
    assert cp is not None and cp.size == LEAVES
    print(f"\n{LEAVES:,} leaves generated and logged in {time.perf_counter() - t0:.1f} s "
          f"(tree catch-up {build:.1f} s: {LEAVES / build:,.0f} leaves/s)")
    timings = []
    for _ in range(5):
        index = random.randrange(LEAVES)
        t1 = time.perf_counter()
        reader = TreeReader(LogStore(clickhouse), log)
        key = (index, str(index))
        at = reader.locate(key)
        proof = reader.inclusion(at, cp.size)
        timings.append(time.perf_counter() - t1)
        assert at == index and root_from_inclusion(at, cp.size, reader.leaf(at), proof) == cp.root
    print(f"one inclusion proof from a cold reader (load {len(reader.tiles):,} tile hashes, find the leaf, "
          f"hash the path): median {sorted(timings)[2] * 1000:.0f} ms, max {max(timings) * 1000:.0f} ms")

"""Helpers of the evidence tests: a log over the session's ClickHouse, written through the sink's real path."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from meterstream.schemas import BatchCodec
from meterstream.sinks.evidence import export
from meterstream.sinks.evidence.leaf_sql import VIEW, leaf_select, retire_event_leaves
from meterstream.sinks.evidence.log import Cadence, EvidenceLog
from meterstream.sinks.evidence.signing import Signer, generate_key
from meterstream.sinks.evidence.store import LogStore
from meterstream.sinks.evidence.verify import VerifierKey, verify_bundle
from meterstream.sinks.usage_writer import UsageWriter
from tests.sinks.conftest import Msg

ORIGIN = "test.meterstream"
DAY = datetime(2026, 5, 1, tzinfo=timezone.utc)


@dataclass
class Harness:
    """One test's usage topic, written flush by flush with increasing offsets, and its evidence log."""

    client: Any
    signer: Signer
    topic: str
    evidence: EvidenceLog
    offsets: dict[int, int] = field(default_factory=dict)
    per_event: bool = False  # log as releases before issue 16 did: a leaf per event (usage.v2, a view)

    def write(self, *batches: dict[str, list[Any]], partition: int = 0, offsets: list[int] | None = None) -> None:
        codec = BatchCodec()
        if offsets is None:
            start = self.offsets.get(partition, 0)
            offsets = list(range(start, start + len(batches)))
        self.offsets[partition] = max([self.offsets.get(partition, 0), *[o + 1 for o in offsets]])
        msgs = [Msg(codec.encode(b), o, partition, self.topic) for o, b in zip(offsets, batches)]
        writer = UsageWriter(self.client, lambda m, r: None, evidence=not self.per_event)
        if self.per_event:
            self.client.command(f"CREATE MATERIALIZED VIEW IF NOT EXISTS {VIEW} TO evidence_leaves AS {leaf_select()}")
        try:
            writer.write({codec.schema.fingerprint: (codec.schema.schema, msgs)})  # type: ignore[dict-item]
        finally:
            retire_event_leaves(self.client)

    def lic(self, name: str) -> str:
        """A license id of this test only (tests share the session's ClickHouse)."""
        return f"{self.topic}-{name}"

    def log(self, partition: int = 0) -> str:
        return f"{self.topic}/{partition}"

    def checkpoint(self) -> None:
        self.evidence.checkpoint_all([self.log(p) for p in self.offsets])

    def bundle(self, license_id: str) -> dict[str, Any]:
        return export.export(self.client, license_id, DAY, datetime(2026, 6, 1, tzinfo=timezone.utc))

    def verify(self, bundle: dict[str, Any], witnesses: list[str] = ()) -> str:  # type: ignore[assignment]
        return verify_bundle(json.loads(json.dumps(bundle)), VerifierKey.parse(self.signer.vkey()), witnesses)


def new_signer(path: Path) -> Signer:
    return Signer(generate_key(path), ORIGIN)


@pytest.fixture
def harness(clickhouse, tmp_path: Path) -> Harness:  # type: ignore[no-untyped-def]
    """A log per event (``usage.v2``, as written before issue 16): what the tree, proof, pruning and checkpointer
    tests count in (leaves of any kind are the same to them); ``test_log.py`` runs per message too."""
    return new_harness(clickhouse, tmp_path, per_event=True)


def new_harness(clickhouse: Any, tmp_path: Path, per_event: bool) -> Harness:
    retire_event_leaves(clickhouse)
    signer = new_signer(tmp_path / "signing.key")
    evidence = EvidenceLog(LogStore(clickhouse), signer, Cadence(10**9, 10**9), ORIGIN)
    return Harness(clickhouse, signer, f"ev-{uuid.uuid4().hex[:8]}.usage", evidence, per_event=per_event)

"""The honest log verifies; every kind of tampering fails and the verifier names what."""

from __future__ import annotations

from datetime import datetime

import pytest

from meterstream.sinks.evidence.verify import Failure
from tests.sinks.conftest import batch, tagged
from tests.sinks.evidence.conftest import Harness

pytestmark = [pytest.mark.integration]


def _fill(h: Harness, lic: str = "lic-a") -> None:
    """Three flushes of one license interleaved with another on one partition, plus a second partition."""
    for hour in range(3):
        h.write(batch(lic, 40, when=datetime(2026, 5, 2, hour)),
                tagged(batch("lic-b", 30, when=datetime(2026, 5, 2, hour)), data_categories=("pii", "ü"),
                       trace_id="t-1"))
    h.write(batch(lic, 300, when=datetime(2026, 5, 3)), partition=1)
    h.checkpoint()


def test_honest_log_verifies(harness: Harness) -> None:
    _fill(harness)
    bundle = harness.bundle("lic-a")
    assert len(bundle["entries"]) == 420 and len(bundle["logs"]) == 2
    assert harness.verify(bundle).startswith("OK: 420 entries verified")

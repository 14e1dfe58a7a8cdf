"""The flusher's delivery state machine, with a stand-in for the Kafka client (unit tests)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from meterstream.producers.batch import BatchBuilder
from meterstream.producers.flusher import Flusher
from meterstream.producers.settings import ProducerSettings
from meterstream.producers.spool import Spool


class FakeDelivery:
    """Records sends; fails them with ConnectionError while ``broken``; acks on poll()."""

    def __init__(self) -> None:
        self.broken = False
        self.resets = 0
        self.sent: list[bytes] = []
        self._pending: list[Any] = []

    def send(self, key: bytes, value: bytes, on_delivery: Any) -> None:
        if self.broken:
            raise ConnectionError("fatal: producer fenced")
        self.sent.append(value)
        self._pending.append(on_delivery)

    def poll(self, timeout: float = 0.0) -> int:
        pending, self._pending = self._pending, []
        for cb in pending:
            cb(None, None)
        return len(pending)

    def reset(self) -> None:
        self.resets += 1


def _flusher(tmp_path: Path) -> tuple[Flusher, FakeDelivery, dict[str, list[Any]]]:
    s = ProducerSettings(model="m", replay_backoff_ms=10, linger_ms=1)
    queues: dict[str, list[Any]] = {}
    fake = FakeDelivery()
    spool = Spool(tmp_path, max_bytes=1 << 24, segment_bytes=1 << 20, fsync=False)
    return Flusher(s, queues, BatchBuilder(s, "p"), spool, fake), fake, queues


def _row(i: int) -> tuple[Any, ...]:
    return (f"00000000-0000-8000-8000-{i:012x}", 1_767_225_600_000_000_000 + i, "inferences", 10**6, None, None,
            None, "ok", None, None, None, None, None, None, None, None, None, None)


def test_fatal_producer_error_resets_the_client_and_replays_from_the_spool(tmp_path: Path) -> None:
    f, fake, queues = _flusher(tmp_path)
    queues["lic-1"] = [v for i in range(10) for v in _row(i)]
    fake.broken = True
    f.tick(force=True)
    assert fake.resets == 1 and f.replaying and f.spool.pending() == 1 and f.stats.failed_deliveries == 1
    fake.broken = False
    queues["lic-1"].extend(v for i in range(10, 15) for v in _row(i))
    for _ in range(50):
        f.tick(force=True)
        if f.settled:
            break
        time.sleep(0.01)
    assert f.settled and not f.replaying
    assert f.stats.delivered_events == 15 and f.spool.pending() == 0
    assert len(fake.sent) == 2  # the first batch replayed, then the second one, in log order
    f.spool.close()

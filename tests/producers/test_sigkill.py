"""A producing process SIGKILLed while the broker is down: its spool is replayed by the next process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from meterstream.producers import Meter
from tests.producers.conftest import distinct_ids, read_events
from tests.producers.test_outage import assert_each_event_once

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


# Non-strict mode may lose what was accepted but not yet written to the spool: at most the
# last linger_ms (20 in the child) plus one flusher tick; 1 s of margin for a loaded machine.
LOSS_WINDOW_US = 1_000_000


def _acknowledged(out_path: Path) -> dict[str, int]:
    """Id -> event time of the lines the child printed in full (a line cut by the kill does not count)."""
    lines = out_path.read_text().split("\n")[:-1]
    return {p[0]: int(p[1]) for p in (line.split(" ") for line in lines) if len(p) == 2 and len(p[0]) == 36}


@pytest.mark.parametrize("fsync", ["always", "interval"])
def test_sigkilled_producer_loses_nothing_it_acknowledged(local_broker, kafka_bootstrap, topics,
                                                          tmp_path: Path, fsync: str) -> None:
    if local_broker is None:
        pytest.skip("needs the local broker, to stop and restart it")
    spool = tmp_path / "spool"
    out = tmp_path / "child.out"
    with open(out, "wb") as stdout:
        child = subprocess.Popen([sys.executable, "-m", "tests.producers.recording_child", kafka_bootstrap,
                                  topics.topic_prefix, str(spool), fsync], cwd=ROOT, stdout=stdout,
                                 stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while len(_acknowledged(out)) < 300 and time.monotonic() < deadline:
            assert child.poll() is None, "the producing child died"
            time.sleep(0.1)
        local_broker.kill()
        time.sleep(4)  # the child keeps recording into its spool; deliveries time out
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
        local_broker.start(timeout=180)
    acked = _acknowledged(out)
    assert len(acked) > 300 and list(spool.glob("*.seg")), "the kill should leave an unreplayed spool"
    with Meter(kafka_bootstrap_servers=kafka_bootstrap, topic_prefix=topics.topic_prefix, spool_dir=spool,
               model="llama-3") as meter:
        assert meter.spool.pending() > 0
        meter.flush(120)
        assert meter.stats.replayed_batches > 0
    killed_at = max(acked.values())
    if fsync == "always":
        must = set(acked)
    else:
        must = {i for i, t in acked.items() if t < killed_at - LOSS_WINDOW_US}
    events = read_events(kafka_bootstrap, topics.usage, lambda ev: distinct_ids(ev) >= must, 120)
    arrived = distinct_ids(events)
    unacked = arrived - set(acked)
    assert len(unacked) <= 1  # at most the one event whose line the kill cut from the output
    lost = set(acked) - arrived
    assert not (lost and fsync == "always")
    assert all(acked[i] >= killed_at - LOSS_WINDOW_US for i in lost), "lost an event older than the window"
    extra = assert_each_event_once(events, sorted(arrived))
    print(f"\nfsync={fsync}: {len(acked)} events acknowledged by the killed process, {len(lost)} lost "
          f"(allowed: those of its last {LOSS_WINDOW_US // 1000} ms), {extra} extra copies in Kafka (deduplicated by id)")

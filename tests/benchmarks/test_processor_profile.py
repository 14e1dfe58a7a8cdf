"""Where a processor worker's time goes while it drains a backlog: py-spy samples the real
``meterstream processor`` child (Faust, tables, changelog, alerts) and the test prints the functions
with the most samples, self and inclusive, and the share of samples in meterstream's own code.

Run: ``.venv/bin/pip install py-spy`` once, then ``METERSTREAM_TEST_KAFKA_PORT=... TZ=UTC
.venv/bin/python -m pytest tests/benchmarks/test_processor_profile.py -m benchmark -s``.
Skipped without py-spy. BENCH_PROFILE_MESSAGES (default 2,000 messages over 50 licenses), BENCH_PROFILE_BATCH
(events per message, default 500).
Samples only the thread holding the GIL (``--gil``: a worker is bound by one GIL, and threads blocked
in librdkafka or epoll would otherwise look busy); BENCH_PROFILE_ALL_THREADS=1 samples every thread.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from meterstream.stream_processors.license.terms import quota
from tests.benchmarks.test_processor_benchmark import BATCH, drain, encoded_batches
from tests.stream_processors.conftest import RawProducer
from tests.stream_processors.factory import US, terms

pytestmark = [pytest.mark.benchmark, pytest.mark.integration]
MESSAGES = int(os.environ.get("BENCH_PROFILE_MESSAGES", 2000))
SIZE = int(os.environ.get("BENCH_PROFILE_BATCH", BATCH))  # events per message (20: what a live-rate Meter sends)
LICENSES = 50
OURS = re.compile(r"[(/](stream_processors|schemas)/")  # py-spy names our frames "fn (stream_processors/x.py:1)"
GIL_ONLY = os.environ.get("BENCH_PROFILE_ALL_THREADS", "") == ""
PY_SPY = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")


def collapsed(path: Path) -> Counter[tuple[str, ...]]:
    """py-spy's raw output: one line per distinct stack (frames separated by ';') and its sample count."""
    stacks: Counter[tuple[str, ...]] = Counter()
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if stack:
            stacks[tuple(stack.split(";"))] += int(n)
    return stacks


def summary(stacks: Counter[tuple[str, ...]], top: int = 18) -> str:
    """Top functions by self and by inclusive samples, and meterstream's own share."""
    total = sum(stacks.values()) or 1
    own, incl = Counter[str](), Counter[str]()
    for frames, n in stacks.items():
        own[frames[-1]] += n
        for f in set(frames):
            incl[f] += n
    ours = sum(n for f, n in own.items() if OURS.search(f))
    lines = [f"{total} samples; self time in meterstream's code (stream_processors/, schemas/): {ours / total:.0%}",
             "self:"]
    lines += [f"  {n / total:6.1%}  {f}" for f, n in own.most_common(top)]
    lines.append("inclusive:")
    lines += [f"  {n / total:6.1%}  {f}" for f, n in incl.most_common(top + 12)]
    return "\n".join(lines)


@pytest.mark.skipif(not Path(PY_SPY).exists(), reason="py-spy is not installed (pip install py-spy)")
def test_worker_profile(start_worker: Any, admin: Any, kafka_bootstrap: str, topics: Any, tmp_path: Path) -> None:
    lids = [f"prof-{i}" for i in range(LICENSES)]
    admin.publish_many([terms(lid, quotas={"input_tokens": quota("input_tokens", 10**11, "month", hard=True)})
                        for lid in lids])
    p = RawProducer(kafka_bootstrap, topics)
    now = time.time_ns() // 1000
    for lid in lids:
        for value in encoded_batches(lid, MESSAGES // LICENSES, now - 3600 * US, f"p-{lid}", SIZE):
            p.producer.produce(topics.usage, value, lid.encode())
            p.producer.poll(0)
    p.flush()
    total = (MESSAGES // LICENSES) * LICENSES * SIZE
    worker = start_worker("prof")
    out = tmp_path / "worker.raw"
    spy = subprocess.Popen([PY_SPY, "record", "-p", str(worker.proc.pid), "-f", "raw", "-o", str(out), "-r", "250",
                            "--nonblocking", *(["--gil"] if GIL_ONLY else [])],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stats, cpu_us = drain(worker, total)
    spy.send_signal(signal.SIGINT)
    _, err = spy.communicate(timeout=60)
    assert out.exists(), err.decode()[-2000:]
    rate = stats["events"] / max(stats["busy_seconds"], 1e-9)
    print(f"\nworker drained {stats['events']:,} events ({stats['messages']} messages) at {rate:,.0f} events/s "
          f"busy, under py-spy at 250 Hz, {'the thread holding the GIL' if GIL_ONLY else 'all threads'} "
          f"(load average {os.getloadavg()[0]:.1f})\nworker process CPU {cpu_us:.2f} µs per event "
          f"(= {1e6 / cpu_us:,.0f} events per CPU-second; all its threads from the first applied message, "
          f"py-spy excluded)\n"
          + summary(collapsed(out)))

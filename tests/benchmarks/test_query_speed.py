"""Query speed on 10 million generated events: every query-pack entry timed beside its target.

Run: ``TZ=UTC .venv/bin/python -m pytest tests/benchmarks/test_query_speed.py -m benchmark -s``
(no broker needed). Sizes: BENCH_QUERY_EVENTS (default 10,000,000), BENCH_QUERY_LICENSES (1,000),
BENCH_QUERY_REPEATS (5). The data are made by ClickHouse itself (``tests/benchmarks/query_data.py``);
the timing runs in a child process with its own embedded ClickHouse (``query_speed_run.py``), so the
session's ClickHouse that other tests share never holds the 10 million events. Asserts only that
every entry ran, never timing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from meterstream.sinks import query_pack

pytestmark = [pytest.mark.benchmark, pytest.mark.timeout(3600)]  # 10M rows on a shared 2-core machine
ROOT = Path(__file__).resolve().parents[2]


def test_query_pack_speed(tmp_path: Path) -> None:
    events = os.environ.get("BENCH_QUERY_EVENTS", "10000000")
    licenses = os.environ.get("BENCH_QUERY_LICENSES", "1000")
    repeats = os.environ.get("BENCH_QUERY_REPEATS", "5")
    run = subprocess.run([sys.executable, "-m", "tests.benchmarks.query_speed_run", str(tmp_path / "ch"), events,
                          licenses, repeats], cwd=ROOT, capture_output=True, text=True, timeout=3600,
                         env={**os.environ, "TZ": "UTC"})
    print(run.stdout)
    assert run.returncode == 0, run.stderr[-5000:]
    assert f"entries timed: {len(query_pack.names())} of {len(query_pack.names())}" in run.stdout

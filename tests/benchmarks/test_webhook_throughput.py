"""Webhook deliveries per second from one dispatcher to a local receiver in another process.

Run: ``METERSTREAM_TEST_KAFKA_PORT=... make bench PYTEST_ARGS=-k webhook`` (or
``pytest tests/benchmarks/test_webhook_throughput.py -m benchmark -s``).
Each delivery is a signed POST whose state is written to Kafka before the
alert's offset is committed and again after the attempt, plus one log record.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from meterstream.process import get_json, wait_http
from meterstream.sinks.webhooks.admin import EndpointAdmin
from tests.helpers import free_port, wait_for
from tests.sinks.webhooks.helpers import alert, produce_alerts, running, settings

pytestmark = [pytest.mark.benchmark, pytest.mark.integration]
ALERTS = 5000


@pytest.mark.parametrize("endpoints", [1, 4])
def test_webhook_deliveries_per_second(kafka_bootstrap: str, prefix: str, endpoints: int) -> None:
    port = free_port()
    receiver = subprocess.Popen([sys.executable, "-m", "tests.benchmarks.webhook_receiver", str(port)])
    try:
        wait_http(f"http://127.0.0.1:{port}/count", 30, receiver)
        s = settings(kafka_bootstrap, prefix, [5.0, 300.0])
        admin = EndpointAdmin(s)
        for i in range(endpoints):
            admin.add(f"http://127.0.0.1:{port}/ep{i}", [], [], [])
        admin.close()
        produce_alerts(s, [alert(f"lic-{i % 97}") for i in range(ALERTS)])
        expected = ALERTS * endpoints
        start = time.monotonic()
        with running(s):
            wait_for(lambda: get_json(f"http://127.0.0.1:{port}/count")["count"] >= expected, 600, interval=0.5,
                     what=f"{expected} deliveries")
            wall = time.monotonic() - start
        stats = get_json(f"http://127.0.0.1:{port}/count")
    finally:
        receiver.terminate()
        receiver.wait(10)
    steady = (stats["count"] - 1) / max(stats["last"] - stats["first"], 1e-9)
    print(f"\nwebhook dispatch: {ALERTS} alerts x {endpoints} endpoint(s) = {stats['count']} deliveries; "
          f"{steady:,.0f} deliveries/s first-to-last POST; {stats['count'] / wall:,.0f}/s including "
          f"dispatcher start ({wall:.1f} s)")
    assert stats["count"] == expected

"""Retries on schedule, give-ups to the dead-letter topic, 410 disabling, slow endpoints in isolation."""

from __future__ import annotations

from typing import Any

import pytest

from meterstream.sinks.webhooks.admin import EndpointAdmin
from meterstream.sinks.webhooks.endpoints import EndpointRegistry
from meterstream.sinks.settings import SinkSettings
from tests.helpers import wait_for

from .conftest import Receiver
from .helpers import alert, delivery_log, produce_alerts, read_topic, running, settings
from .test_delivery_log import run_sink

pytestmark = pytest.mark.integration
SCHEDULE = [0.4, 0.8, 1.2]
JITTER = 0.1


def test_500_three_times_then_delivered_on_schedule_and_exhausted_to_dlq(
        kafka_bootstrap: str, prefix: str, receiver: Receiver, clickhouse: Any, clickhouse_url: str) -> None:
    receiver.plan = lambda path, n: (500 if path == "/flaky" and n < 3 or path == "/down" else 200, 0.0, {})
    s = settings(kafka_bootstrap, prefix, SCHEDULE, webhook_retry_jitter=JITTER)
    admin = EndpointAdmin(s)
    flaky, _ = admin.add(receiver.url("/flaky"), [], [], [])
    down, _ = admin.add(receiver.url("/down"), [], [], [])
    admin.close()
    with running(s):
        produce_alerts(s, [alert()])
        wait_for(lambda: receiver.answered("/flaky", 200) and len(receiver.on("/down")) == 4, 30,
                 what="4 attempts at each endpoint")
        dlq = read_topic(s, s.webhook_dlq, 1)
        log = delivery_log(s, 8)

    for path in ("/flaky", "/down"):
        reqs = receiver.on(path)
        assert len(reqs) == 4 and len({r.webhook_id for r in reqs}) == 1, path
        assert len({r.headers["webhook-signature"] for r in reqs}) >= 1
        for wait, (before, after) in zip(SCHEDULE, zip(reqs, reqs[1:])):
            assert after.at - before.answered_at >= wait * (1 - JITTER) - 0.01, (path, wait)  # never early
    assert [r.status for r in receiver.on("/flaky")] == [500, 500, 500, 200]
    flaky_log = [r for r in log if r["endpoint_id"] == flaky.endpoint_id]
    down_log = [r for r in log if r["endpoint_id"] == down.endpoint_id]
    assert [r["outcome"] for r in flaky_log] == ["retry", "retry", "retry", "delivered"]
    assert [r["outcome"] for r in down_log] == ["retry", "retry", "retry", "exhausted"]
    assert all(r["next_attempt_at"] is not None for r in flaky_log[:3]) and flaky_log[3]["next_attempt_at"] is None
    assert len(dlq) == 1 and b"exhausted after 4" in dict(dlq[0].headers())["reason"]
    assert dict(dlq[0].headers())["endpoint_id"] == down.endpoint_id.encode()

    # every attempt, on record in ClickHouse through the delivery log sink
    log_settings = SinkSettings(kafka_bootstrap_servers=kafka_bootstrap, topic_prefix=prefix,
                                clickhouse_url=clickhouse_url, sink_group=f"{prefix}log", sink_flush_ms=200)
    run_sink(log_settings, clickhouse, lambda sink: sink.rows_written >= 8)
    rows = clickhouse.query(
        "SELECT endpoint_id, groupArray(status_code), groupArray(outcome) FROM "
        "(SELECT * FROM webhook_deliveries FINAL WHERE endpoint_id IN {ids:Array(String)} ORDER BY attempt) "
        "GROUP BY endpoint_id", parameters={"ids": [flaky.endpoint_id, down.endpoint_id]}).result_rows
    assert sorted(rows) == sorted([(flaky.endpoint_id, [500, 500, 500, 200], ["retry"] * 3 + ["delivered"]),
                                   (down.endpoint_id, [500] * 4, ["retry"] * 3 + ["exhausted"])])


def test_410_disables_the_endpoint_and_other_4xx_are_not_retried(
        kafka_bootstrap: str, prefix: str, receiver: Receiver) -> None:
    receiver.plan = lambda path, n: ({"/gone": 410, "/bad": 400}.get(path, 200), 0.0, {})
    s = settings(kafka_bootstrap, prefix, [0.2, 0.2, 0.2])
    admin = EndpointAdmin(s)
    gone, _ = admin.add(receiver.url("/gone"), [], [], [])
    bad, _ = admin.add(receiver.url("/bad"), [], [], [])
    admin.close()
    with running(s):
        produce_alerts(s, [alert()])
        dlq = read_topic(s, s.webhook_dlq, 2)
        registry = EndpointRegistry(s, s)
        wait_for(lambda: registry.refresh(0.5) >= 0 and not registry.endpoints[gone.endpoint_id].enabled, 15,
                 what="endpoint disabled")
        produce_alerts(s, [alert(), alert()])
        wait_for(lambda: len(receiver.on("/bad")) == 3, 30, what="later alerts still go to /bad")
    assert len(receiver.on("/gone")) == 1, "a 410 is not retried, and the endpoint gets nothing more"
    assert "410" in registry.endpoints[gone.endpoint_id].disabled_reason
    assert registry.endpoints[bad.endpoint_id].enabled
    registry.close()
    reasons = sorted(dict(m.headers())["reason"].decode() for m in dlq)
    assert reasons[0].startswith("failed after 1 attempt(s): last 400") and reasons[1].startswith("gone after 1")


def test_retry_after_is_honoured(kafka_bootstrap: str, prefix: str, receiver: Receiver) -> None:
    receiver.plan = lambda path, n: (429, 0.0, {"Retry-After": "2"}) if n == 0 else (200, 0.0, {})
    s = settings(kafka_bootstrap, prefix, [0.1, 0.1])
    admin = EndpointAdmin(s)
    admin.add(receiver.url(), [], [], [])
    admin.close()
    with running(s):
        produce_alerts(s, [alert()])
        wait_for(lambda: receiver.answered("/hook", 200), 30, what="delivery after Retry-After")
    first, second = receiver.on("/hook")
    assert second.at - first.answered_at >= 2.0 - 0.01, "retried before the receiver's Retry-After"


def test_a_slow_endpoint_does_not_delay_the_others(kafka_bootstrap: str, prefix: str, receiver: Receiver) -> None:
    receiver.plan = lambda path, n: (200, 5.0 if path == "/slow" else 0.0, {})
    # 3 requests in flight in all, 2 per endpoint: the slow endpoint can hold only its own 2
    s = settings(kafka_bootstrap, prefix, [1.0], webhook_timeout_s=30, webhook_endpoint_concurrency=2,
                 webhook_max_in_flight=3)
    admin = EndpointAdmin(s)
    admin.add(receiver.url("/slow"), [], [], [])
    admin.add(receiver.url("/fast"), [], [], [])
    admin.close()
    with running(s):
        produce_alerts(s, [alert(f"lic-{i}") for i in range(8)])
        wait_for(lambda: len(receiver.answered("/fast")) == 8, 60, what="all fast deliveries")
        slow_done = len(receiver.answered("/slow"))
        slow_seen = len(receiver.on("/slow"))
    # had the fast deliveries queued behind the slow ones (8 x 5 s, 2 at a time), they would finish after
    # all of the slow ones; they finished while the slow endpoint was still on its first requests
    assert slow_done < 8 and 1 <= slow_seen <= 4, (slow_done, slow_seen)

"""A dispatcher SIGKILLed while a retry is pending delivers it after restart, once, with the same id."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pytest

from meterstream.process import spawn, terminate
from meterstream.sinks.webhooks.admin import EndpointAdmin
from meterstream.sinks.webhooks.payload import delivery_id
from meterstream.sinks.webhooks.verify import verify
from tests.helpers import wait_for

from .conftest import Receiver
from .helpers import alert, delivery_log, env, produce_alerts, settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_sigkill_while_a_retry_is_pending(kafka_bootstrap: str, prefix: str, receiver: Receiver,
                                          tmp_path: Path) -> None:
    schedule = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    s = settings(kafka_bootstrap, prefix, schedule)
    admin = EndpointAdmin(s)
    ep, secret = admin.add(receiver.url(), [], [], [])
    admin.close()
    failing = {"on": True}
    receiver.plan = lambda path, n: (500 if failing["on"] else 200, 0.0, {})
    a, b = alert(), alert()
    produce_alerts(s, [a, b])
    proc = spawn(["webhook", "dispatch"], tmp_path / "dispatcher-1.log", env(kafka_bootstrap, prefix, schedule))
    try:
        # two failed attempts per alert, the retry state of the first on record: a retry is pending
        wait_for(lambda: len(receiver.on("/hook")) >= 4, 60, what="failed attempts")
        delivery_log(s, 2)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    failing["on"] = False
    proc = spawn(["webhook", "dispatch"], tmp_path / "dispatcher-2.log", env(kafka_bootstrap, prefix, schedule))
    try:
        wait_for(lambda: len(receiver.answered("/hook")) >= 2, 60, what="deliveries after restart")
        # `a` again (a processor redelivering it after the restart), then a fresh alert on the same
        # partition: once the fresh one arrives, the repeat has been read and recognised from the state
        produce_alerts(s, [a, alert()])
        wait_for(lambda: len(receiver.answered("/hook")) >= 3, 60, what="a fresh delivery")
    finally:
        assert terminate(proc) == 0, (tmp_path / "dispatcher-2.log").read_text()[-3000:]
    answered = receiver.answered("/hook")
    ids = {delivery_id(ep.endpoint_id, x["alert_id"]) for x in (a, b)}
    assert len(answered) == 3, [r.webhook_id for r in answered]
    assert ids <= {r.webhook_id for r in answered}
    assert {r.webhook_id for r in receiver.on("/hook")[:4]} == ids, "the same ids before and after the kill"
    for r in answered:
        assert verify(secret, r.headers, r.body) == r.webhook_id


def test_another_dispatcher_takes_over_the_pending_retries_of_a_killed_one(
        kafka_bootstrap: str, prefix: str, receiver: Receiver, tmp_path: Path) -> None:
    schedule = [1.0] * 20
    s = settings(kafka_bootstrap, prefix, schedule)
    admin = EndpointAdmin(s)
    ep, _ = admin.add(receiver.url(), [], [], [])
    admin.close()
    failing = {"on": True}
    receiver.plan = lambda path, n: (500 if failing["on"] else 200, 0.0, {})
    logs = [tmp_path / "dispatcher-a.log", tmp_path / "dispatcher-b.log"]
    procs = [spawn(["webhook", "dispatch"], log, env(kafka_bootstrap, prefix, schedule)) for log in logs]
    try:
        # both own partitions (each logs the partitions it reloads), then alerts for every partition
        wait_for(lambda: all("pending resumed" in log.read_text() for log in logs), 60, what="both assigned")
        alerts = [alert(f"lic-{i}") for i in range(12)]
        produce_alerts(s, alerts)
        ids = {delivery_id(ep.endpoint_id, a["alert_id"]) for a in alerts}
        wait_for(lambda: {r.webhook_id for r in receiver.on("/hook")} == ids, 60, what="a failed attempt each")
        procs[0].send_signal(signal.SIGKILL)
        procs[0].wait(30)
        failing["on"] = False
        wait_for(lambda: {r.webhook_id for r in receiver.answered("/hook")} == ids, 90, what="all delivered")
        produce_alerts(s, [alert(f"lic-{i}") for i in range(12)])  # one more round through the survivor
        wait_for(lambda: len(receiver.answered("/hook")) >= 24, 60, what="the survivor serving every partition")
    finally:
        for proc in procs:
            terminate(proc)
    answered = [r.webhook_id for r in receiver.answered("/hook")]
    assert len(answered) == len(set(answered)) == 24, "each alert delivered once"
    assert re.search(r"[1-9]\d* pending resumed", logs[1].read_text()), "the survivor took over pending retries"

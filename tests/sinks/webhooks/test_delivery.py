"""Deliveries to a real local receiver: signed, once per (endpoint, alert), subscriptions, bad alerts."""

from __future__ import annotations

import json

import pytest

from meterstream.schemas import RecordCodec
from meterstream.sinks.webhooks.admin import EndpointAdmin
from meterstream.sinks.webhooks.payload import delivery_id
from meterstream.sinks.webhooks.verify import verify
from tests.helpers import wait_for

from .conftest import Receiver
from .helpers import alert, delivery_log, produce_alerts, read_topic, running, settings

pytestmark = pytest.mark.integration


def test_signed_delivery_once_per_endpoint_and_alert(kafka_bootstrap: str, prefix: str, receiver: Receiver) -> None:
    s = settings(kafka_bootstrap, prefix, [0.2, 0.4])
    admin = EndpointAdmin(s)
    all_ep, all_secret = admin.add(receiver.url("/all"), [], [], [])
    lic2_ep, lic2_secret = admin.add(receiver.url("/lic2"), ["lic-2"], [], ["threshold"])
    admin.add(receiver.url("/other-kind"), [], [], ["expired_license"])
    admin.close()
    first, second = alert("lic-1"), alert("lic-2")
    with running(s):
        # garbage first: it must go to the dead-letter topic and not stop anything
        produce_alerts(s, [first, first], raw=[b"\x00garbage", RecordCodec("license").header + b"\x01"])
        produce_alerts(s, [second, first])  # `first` three times in all: a processor redelivering it
        wait_for(lambda: len(receiver.on("/all")) >= 2 and receiver.on("/lic2"), 30, what="deliveries")
        log = delivery_log(s, 3)

    assert len(receiver.on("/all")) == 2 and len(receiver.on("/lic2")) == 1 and not receiver.on("/other-kind")
    for req in receiver.on("/all"):
        assert verify(all_secret, req.headers, req.body) == req.webhook_id
        body = req.json()
        assert body["type"] == "alert.threshold" and body["data"]["evidence"] == {"used": "800", "limit": "1000"}
        assert req.webhook_id == delivery_id(all_ep.endpoint_id, body["data"]["alert_id"])
    assert {r.json()["data"]["alert_id"] for r in receiver.on("/all")} == {first["alert_id"], second["alert_id"]}
    lic2 = receiver.on("/lic2")[0]
    assert verify(lic2_secret, lic2.headers, lic2.body) == delivery_id(lic2_ep.endpoint_id, second["alert_id"])
    assert lic2.json()["data"]["created_at"] == "2025-11-22T08:26:40Z"
    assert [r["outcome"] for r in log] == ["delivered"] * 3 and all(r["status_code"] == 200 for r in log)
    dlq = read_topic(s, s.webhook_dlq, 2)
    assert len(dlq) == 2 and all(b"undecodable alert" in dict(m.headers())["reason"] for m in dlq)


def test_receiver_down_then_up_is_delivered_once_with_the_same_id(kafka_bootstrap: str, prefix: str) -> None:
    receiver = Receiver()  # not listening yet: connection refused
    s = settings(kafka_bootstrap, prefix, [0.3, 0.6, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    admin = EndpointAdmin(s)
    ep, secret = admin.add(receiver.url(), [], [], [])
    admin.close()
    a = alert()
    try:
        with running(s):
            produce_alerts(s, [a])
            failed = delivery_log(s, 2)  # two refused attempts on record
            receiver.start()
            wait_for(lambda: receiver.answered("/hook"), 30, what="delivery once the receiver is up")
            log = wait_for(lambda: [r for r in delivery_log(s, 3) if r["outcome"] == "delivered"] and
                           delivery_log(s, 3), 30, what="delivered outcome in the log")
    finally:
        receiver.stop()
    assert len(receiver.on("/hook")) == 1
    req = receiver.on("/hook")[0]
    assert verify(secret, req.headers, req.body) == delivery_id(ep.endpoint_id, a["alert_id"])
    assert all(r["status_code"] is None and r["error"] and r["outcome"] == "retry" for r in failed[:2])
    assert {r["delivery_id"] for r in log} == {req.webhook_id}
    assert [r["attempt"] for r in log] == list(range(1, len(log) + 1)) and log[-1]["outcome"] == "delivered"


def test_rotated_secret_signs_with_both_until_the_old_expires(kafka_bootstrap: str, prefix: str,
                                                              receiver: Receiver) -> None:
    s = settings(kafka_bootstrap, prefix, [0.2])
    admin = EndpointAdmin(s)
    ep, old = admin.add(receiver.url(), [], [], [])
    new = admin.rotate(ep.endpoint_id, keep_old_for_s=3600)
    with running(s):
        produce_alerts(s, [alert()])
        wait_for(lambda: receiver.on("/hook"), 30, what="delivery")
        newest = admin.rotate(ep.endpoint_id, keep_old_for_s=0)
    admin.close()
    req = receiver.on("/hook")[0]
    assert len(req.headers["webhook-signature"].split()) == 2
    assert verify(old, req.headers, req.body) == verify(new, req.headers, req.body) == req.webhook_id
    stored = json.dumps([sec["ciphertext"] for sec in admin.registry.endpoints[ep.endpoint_id].secrets])
    assert old not in stored and new not in stored and newest not in stored
    assert len(admin.registry.endpoints[ep.endpoint_id].live_ciphertexts()) == 1

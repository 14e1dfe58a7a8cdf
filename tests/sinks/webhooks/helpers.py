"""Helpers of the webhook integration tests: settings, alerts, and reading result topics."""

from __future__ import annotations

import threading
import time
import uuid
from contextlib import contextmanager
from typing import Any, Iterator

from confluent_kafka import Consumer, Producer

from meterstream.schemas import RecordCodec
from meterstream.sinks.webhooks.dispatcher import Dispatcher
from meterstream.sinks.webhooks.secret_box import generate_master_key
from meterstream.sinks.webhooks.settings import WebhookSettings

MASTER_KEY = generate_master_key()


def settings(bootstrap: str, prefix: str, schedule: list[float], **extra: Any) -> WebhookSettings:
    return WebhookSettings(kafka_bootstrap_servers=bootstrap, topic_prefix=prefix, webhook_group=f"{prefix}wh",
                           webhook_master_key=MASTER_KEY, webhook_retry_schedule=schedule,
                           webhook_state_retention_s=3600, webhook_session_timeout_ms=6000, **extra)


def env(bootstrap: str, prefix: str, schedule: list[float]) -> dict[str, str]:
    """The same settings as environment variables, for a dispatcher subprocess."""
    return {"METERSTREAM_KAFKA_BOOTSTRAP_SERVERS": bootstrap, "METERSTREAM_TOPIC_PREFIX": prefix,
            "METERSTREAM_WEBHOOK_GROUP": f"{prefix}wh", "METERSTREAM_WEBHOOK_MASTER_KEY": MASTER_KEY,
            "METERSTREAM_WEBHOOK_RETRY_SCHEDULE": str(schedule), "METERSTREAM_WEBHOOK_STATE_RETENTION_S": "3600",
            "METERSTREAM_WEBHOOK_SESSION_TIMEOUT_MS": "6000"}


def alert(license_id: str = "lic-1", kind: str = "threshold", **fields: Any) -> dict[str, Any]:
    return {"alert_id": f"al_{uuid.uuid4().hex[:12]}", "kind": kind, "severity": "warning",
            "license_id": license_id, "tenant": "acme", "team": "ml", "metric": "output_tokens",
            "period": "2026-11", "threshold": 80, "message": "80% of quota used",
            "evidence": {"used": "800", "limit": "1000"}, "event_id": None,
            "created_at": 1_763_800_000_000_000, **fields}


def produce_alerts(s: WebhookSettings, alerts: list[dict[str, Any]], raw: list[bytes] = ()) -> None:  # type: ignore[assignment]
    codec = RecordCodec("alert")
    p = Producer(s.client_config())
    for value in raw:
        p.produce(s.alerts, value, b"lic-1")
    for a in alerts:
        p.produce(s.alerts, codec.encode(a), a["license_id"].encode())
    assert p.flush(30) == 0


def read_topic(s: WebhookSettings, topic: str, expect: int, timeout: float = 30.0) -> list[Any]:
    """At least ``expect`` messages of ``topic`` (all it has once that many arrived)."""
    c = Consumer({**s.client_config(), "group.id": f"reader-{uuid.uuid4().hex}", "auto.offset.reset": "earliest",
                  "enable.auto.commit": False})
    c.subscribe([topic])
    out: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            out += [m for m in c.consume(500, 0.5) if m.error() is None]
            if len(out) >= expect:
                out += [m for m in c.consume(500, 1.0) if m.error() is None]
                return out
    finally:
        c.close()
    raise AssertionError(f"{topic}: {len(out)} messages after {timeout}s, expected {expect}")


def delivery_log(s: WebhookSettings, expect: int) -> list[dict[str, Any]]:
    codec = RecordCodec("webhook_delivery")
    recs = [codec.decode(m.value()) for m in read_topic(s, s.webhook_deliveries, expect)]
    return sorted(recs, key=lambda r: r["attempted_at"])


@contextmanager
def running(s: WebhookSettings) -> Iterator[Dispatcher]:
    """A dispatcher in a thread of this process, stopped (gracefully) on exit."""
    d = Dispatcher(s)
    stop = threading.Event()
    errors: list[BaseException] = []

    def target() -> None:
        try:
            d.run(stop)
        except BaseException as exc:  # noqa: BLE001 - reported to the test below
            errors.append(exc)

    t = threading.Thread(target=target, daemon=True)
    t.start()
    try:
        yield d
    finally:
        stop.set()
        t.join(60)
        assert not t.is_alive(), "dispatcher did not stop"
        assert not errors, errors

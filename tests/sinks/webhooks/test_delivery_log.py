"""The delivery log consumer: attempts from the topic to ClickHouse, duplicates absorbed, bad records dead-lettered."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from confluent_kafka import Producer

from meterstream.config import KafkaSettings
from meterstream.schemas import RecordCodec
from meterstream.sinks.batching import BatchingConsumer
from meterstream.sinks.settings import SinkSettings
from meterstream.sinks.webhooks.delivery_log import delivery_log_sink
from meterstream.kafka.topics import ensure_topics, webhook_topics
from tests.helpers import wait_for

from .helpers import read_topic

pytestmark = pytest.mark.integration


def attempt(delivery: str, n: int, status: int | None, outcome: str) -> dict[str, Any]:
    at = 1_763_800_000_000_000 + n * 1_000_000
    return {"attempt_id": f"{delivery}/{n}/{at}", "delivery_id": delivery, "alert_id": "al_1", "endpoint_id": "ep_1",
            "license_id": "lic-1", "attempt": n, "url": "http://127.0.0.1:9/hook", "status_code": status,
            "latency_us": 1234 * n, "error": None if status else "ClientConnectorError: refused",
            "attempted_at": at, "outcome": outcome, "next_attempt_at": at + 5_000_000 if outcome == "retry" else None}


def run_sink(s: SinkSettings, client: Any, until: Any) -> BatchingConsumer[Any]:
    sink = delivery_log_sink(s, client)
    stop = threading.Event()
    t = threading.Thread(target=sink.run, args=(stop,), daemon=True)
    t.start()
    try:
        wait_for(lambda: until(sink), 60, what="delivery log rows")
    finally:
        stop.set()
        t.join(30)
    return sink


def test_attempts_land_once_each(kafka_bootstrap: str, prefix: str, clickhouse: Any, clickhouse_url: str) -> None:
    s = SinkSettings(kafka_bootstrap_servers=kafka_bootstrap, topic_prefix=prefix,
                     clickhouse_url=clickhouse_url, sink_group=f"{prefix}log", sink_flush_ms=200)
    ensure_topics(KafkaSettings(kafka_bootstrap_servers=kafka_bootstrap), webhook_topics(s))
    codec = RecordCodec("webhook_delivery")
    records = [attempt("msg_a", 1, None, "retry"), attempt("msg_a", 2, 500, "retry"), attempt("msg_a", 3, 200, "delivered"),
               attempt("msg_b", 1, 410, "gone")]
    p = Producer(s.client_config())
    for rec in records + records[:2]:  # the dispatcher re-sent two records (e.g. a producer retry)
        p.produce(s.webhook_deliveries, codec.encode(rec), rec["delivery_id"].encode(), partition=0)
    p.produce(s.webhook_deliveries, b"not avro", b"x", partition=0)
    assert p.flush(30) == 0

    sink = run_sink(s, clickhouse, lambda k: k.rows_written >= 6)
    assert sink.dead_lettered == 1
    rows = clickhouse.query(
        "SELECT delivery_id, attempt, status_code, latency_us, error, outcome, toUnixTimestamp64Micro(attempted_at) "
        "FROM webhook_deliveries FINAL WHERE endpoint_id = 'ep_1' AND delivery_id IN ('msg_a', 'msg_b') "
        "ORDER BY delivery_id, attempt").result_rows
    assert rows == [(r["delivery_id"], r["attempt"], r["status_code"], r["latency_us"], r["error"], r["outcome"],
                     r["attempted_at"]) for r in records]

    # a second sink that starts from scratch (offsets lost) re-reads everything: still one row per attempt
    s2 = s.model_copy(update={"sink_group": f"{prefix}log2"})
    run_sink(s2, clickhouse, lambda k: k.rows_written >= 6)
    count = clickhouse.query("SELECT count() FROM webhook_deliveries FINAL WHERE delivery_id IN ('msg_a', 'msg_b')")
    assert count.result_rows[0][0] == 4
    dlq = read_topic(s, s.webhook_dlq, 2)
    assert all(b"undecodable delivery log record" in dict(m.headers())["reason"] for m in dlq)

"""Bad input never stops the sink: random bytes, truncated Avro, unknown fingerprints and corrupt bodies
become dead letters (topic and table) with a reason, and every good event still lands once."""

from __future__ import annotations

import random
import threading
import uuid
from datetime import datetime

import pytest
from confluent_kafka import Consumer, Producer

from meterstream.schemas import BatchCodec, RecordCodec
from meterstream.sinks.settings import SinkSettings
from meterstream.sinks.usage_sink import usage_sink
from tests.helpers import wait_for
from tests.sinks.conftest import batch

pytestmark = pytest.mark.integration


def _bad_messages(codec: BatchCodec, good: bytes, rng: random.Random) -> list[tuple[bytes, str]]:
    """(value, what it is) of every kind of garbage the sink must survive."""
    bad_uuid = batch("lic-bad", 3, when=datetime(2026, 5, 1), ids=["not-a-uuid"] * 3)
    out = [(bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 300))), "random bytes") for _ in range(20)]
    out += [(good[:n], "truncated") for n in (5, 10, 11, len(good) // 2, len(good) - 1)]
    out += [(b"\xc3\x01" + b"\x00" * 8 + good[10:], "unknown fingerprint")]
    out += [(RecordCodec("alert").encode({"alert_id": "a", "kind": "k", "license_id": "l", "created_at": 0}),
             "an alert on the usage topic")]
    out += [(codec.encode(bad_uuid), "valid header, body ClickHouse rejects")]
    corrupt = bytearray(good)
    corrupt[12:40] = b"\xff" * 28
    out += [(bytes(corrupt), "valid header, corrupt body")]
    return out


def test_garbage_goes_to_dead_letters_and_good_events_land(clickhouse, topics, kafka_env, tag) -> None:
    rng, codec = random.Random(5), BatchCodec()
    lic = f"lic-{tag}"
    goods = [batch(lic, 50, when=datetime(2026, 5, 1, 12)) for _ in range(10)]
    encoded = [codec.encode(b) for b in goods]
    bad = _bad_messages(codec, encoded[0], rng)
    values = [v for v in encoded] + [v for v, _ in bad]
    rng.shuffle(values)
    p = Producer({"bootstrap.servers": kafka_env["METERSTREAM_KAFKA_BOOTSTRAP_SERVERS"]})
    for v in values:
        p.produce(topics.usage, v, lic.encode())
    assert p.flush(30) == 0

    settings = SinkSettings(kafka_bootstrap_servers=kafka_env["METERSTREAM_KAFKA_BOOTSTRAP_SERVERS"],
                            topic_prefix=topics.topic_prefix, sink_group=kafka_env["METERSTREAM_SINK_GROUP"],
                            sink_flush_ms=200)
    sink = usage_sink(settings, client=clickhouse)
    stop = threading.Event()
    t = threading.Thread(target=sink.run, args=(stop,), daemon=True)
    t.start()
    try:
        wait_for(lambda: sink.dead_lettered >= len(bad), 120, what="dead letters")
        wait_for(lambda: clickhouse.query("SELECT count() FROM usage_events WHERE license_id = {l:String}",
                                          parameters={"l": lic}).result_rows[0][0] >= 500, 60, what="good events")
    finally:
        stop.set()
        t.join(30)
    assert sink.dead_lettered == len(bad)
    row = clickhouse.query("SELECT count(), uniqExact(event_id) FROM usage_events WHERE license_id = {l:String}",
                           parameters={"l": lic}).result_rows[0]
    assert row == (500, 500)
    logged = clickhouse.query("SELECT count(), uniqExact(log, kafka_offset) FROM evidence_leaves "
                              "WHERE startsWith(log, {g:String})", parameters={"g": f"{topics.usage}/"}).result_rows[0]
    assert logged == (10, 10)  # the evidence log (on by default) holds the stored messages, not the refused ones
    reasons = clickhouse.query("SELECT reason FROM dead_letters WHERE topic = {t:String}",
                               parameters={"t": topics.usage}).result_rows
    assert len(reasons) == len(bad) and all(r[0] for r in reasons)
    assert any("rejected by ClickHouse" in r[0] for r in reasons)
    c = Consumer({"bootstrap.servers": kafka_env["METERSTREAM_KAFKA_BOOTSTRAP_SERVERS"],
                  "group.id": f"dlq-{uuid.uuid4()}", "auto.offset.reset": "earliest"})
    c.subscribe([topics.usage_dlq])
    seen = []
    wait_for(lambda: seen.extend(m for m in c.consume(100, 1) if m.error() is None) or len(seen) >= len(bad),
             60, what="dead-letter topic")
    c.close()
    assert all(dict(m.headers())["reason"] and dict(m.headers())["source"] for m in seen)

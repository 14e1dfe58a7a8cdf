"""Sink throughput into embedded ClickHouse: events/s per sink process, and where the time goes.

Run: ``TZ=UTC .venv/bin/python -m pytest tests/benchmarks/test_sink_throughput.py -m benchmark -s``
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import datetime

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from meterstream.schemas import BatchCodec
from meterstream.sinks.settings import SinkSettings
from meterstream.sinks.usage_sink import usage_sink
from meterstream.sinks.usage_writer import MOVE_SQL, UsageWriter
from tests.sinks.conftest import Msg, batch

pytestmark = [pytest.mark.benchmark, pytest.mark.integration]
PER_MESSAGE, FLUSH_EVENTS, FLUSHES = 500, 200_000, 5


def _messages(codec: BatchCodec, n_msgs: int, tag: str) -> list[bytes]:
    """Live-like traffic: 200 licenses, event times advancing message by message (1 ms apart)."""
    base = batch(f"bench-{tag}-0", PER_MESSAGE, when=datetime(2026, 11, 1), step_us=1000)
    out = []
    for i in range(n_msgs):
        shift = i * PER_MESSAGE * 1000
        cols = dict(base, event_id=[str(uuid.uuid4()) for _ in range(PER_MESSAGE)],
                    event_time=[t + shift for t in base["event_time"]],
                    license_id=[f"bench-{tag}-{i % 200}"] * PER_MESSAGE)
        out.append(codec.encode(cols))
    return out


def _committed(c: Consumer, parts: list[TopicPartition]) -> list[int]:
    try:
        return [tp.offset for tp in c.committed(parts, timeout=10)]
    except KafkaException:  # the group coordinator moves while the group forms: ask again
        return []


def test_writer_throughput(clickhouse) -> None:
    """The ClickHouse side alone: stage (Avro parse + ARRAY JOIN) and move (dedup + price + rollup views)."""
    codec, tag = BatchCodec(), uuid.uuid4().hex[:6]
    per_flush = FLUSH_EVENTS // PER_MESSAGE
    values = _messages(codec, per_flush * FLUSHES, tag)
    writer = UsageWriter(clickhouse, lambda m, r: None)
    stage = move = 0.0
    for f in range(FLUSHES):
        msgs = [Msg(v, i) for i, v in enumerate(values[f * per_flush:(f + 1) * per_flush])]
        flush_id = 10**12 + f
        t0 = time.perf_counter()
        writer._stage(flush_id, msgs)  # noqa: SLF001
        t1 = time.perf_counter()
        clickhouse.command(MOVE_SQL, parameters={"flush": flush_id})
        clickhouse.command(f"ALTER TABLE usage_staging DROP PARTITION {flush_id}")
        t2 = time.perf_counter()
        stage, move = stage + t1 - t0, move + t2 - t1
    n = FLUSH_EVENTS * FLUSHES
    print(f"\nwriter: {n} events in {FLUSHES} flushes of {FLUSH_EVENTS}: {n / (stage + move):,.0f} events/s "
          f"(stage {n / stage:,.0f}/s = {stage / (stage + move):.0%} of the time, move {n / move:,.0f}/s)")


def test_sink_process_throughput(clickhouse, topics, kafka_env) -> None:
    """Kafka -> usage sink -> ClickHouse, messages produced beforehand; time from start to last commit."""
    codec, tag = BatchCodec(), uuid.uuid4().hex[:6]
    n_msgs = 2000
    bootstrap = kafka_env["METERSTREAM_KAFKA_BOOTSTRAP_SERVERS"]
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "compression.type": "lz4"})
    for i, v in enumerate(_messages(codec, n_msgs, tag)):
        p.produce(topics.usage, v, f"bench-{tag}-{i % 200}".encode())
        p.poll(0)
    assert p.flush(60) == 0
    settings = SinkSettings(kafka_bootstrap_servers=bootstrap, topic_prefix=topics.topic_prefix,
                            sink_group=kafka_env["METERSTREAM_SINK_GROUP"], sink_consumers="usage")
    sink = usage_sink(settings, client=clickhouse)
    stop = threading.Event()
    t0 = time.perf_counter()
    th = threading.Thread(target=sink.run, args=(stop,), daemon=True)
    th.start()
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": settings.sink_group})
    parts = [TopicPartition(topics.usage, i) for i in range(topics.partitions)]
    ends = [c.get_watermark_offsets(tp)[1] for tp in parts]
    while _committed(c, parts) != ends:
        time.sleep(0.2)
    elapsed = time.perf_counter() - t0
    stop.set()
    th.join(30)
    c.close()
    n = n_msgs * PER_MESSAGE
    print(f"\nsink process: {n} events ({n_msgs} messages of {PER_MESSAGE}) in {elapsed:.1f} s incl. group join: "
          f"{n / elapsed:,.0f} events/s, {sink.flushes} flushes")

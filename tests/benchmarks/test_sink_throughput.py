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
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from meterstream.schemas import BatchCodec
from meterstream.sinks.settings import SinkSettings
from meterstream.sinks.usage_sink import usage_sink
from meterstream.sinks.clickhouse import connect
from meterstream.sinks.evidence.checkpointer import checkpointer
from meterstream.sinks.evidence.leaf_sql import apply_evidence
from meterstream.sinks.evidence.log import Cadence, EvidenceLog
from meterstream.sinks.evidence.signing import Signer
from meterstream.sinks.evidence.store import LogStore
from meterstream.sinks.usage_writer import UsageWriter
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


def _writer_round(clickhouse, codec: BatchCodec, values: list[bytes], evidence: bool, tag: str) -> tuple[float, float]:
    """FLUSHES flushes through the real writer (seconds), then the checkpointer's catch-up of their trees (seconds)."""
    apply_evidence(clickhouse, evidence)
    writer = UsageWriter(clickhouse, lambda m, r: None)
    per_flush = FLUSH_EVENTS // PER_MESSAGE
    total = tree = 0.0
    log = EvidenceLog(LogStore(clickhouse), Signer(Ed25519PrivateKey.generate(), "bench"), Cadence(10**6, 10.0), "bench")
    for f in range(FLUSHES):
        msgs = [Msg(v, f * per_flush + i, i % 4, f"bench-{tag}")
                for i, v in enumerate(values[f * per_flush:(f + 1) * per_flush])]
        t0 = time.perf_counter()
        writer.write({codec.schema.fingerprint: (codec.schema.schema, msgs)})  # type: ignore[dict-item]
        t1 = time.perf_counter()
        if evidence:
            log.catch_up([f"bench-{tag}/{p}" for p in range(4)])
        total, tree = total + t1 - t0, tree + time.perf_counter() - t1
    return total, tree


def test_writer_throughput(clickhouse) -> None:
    """The ClickHouse side alone (stage, move with rollup views), evidence log off and on, alternating."""
    codec = BatchCodec()
    n = FLUSH_EVENTS * FLUSHES
    for rnd, evidence in enumerate((False, True, False, True)):
        tag = uuid.uuid4().hex[:6]
        total, tree = _writer_round(clickhouse, codec, _messages(codec, n // PER_MESSAGE, tag), evidence, tag)
        print(f"\nwriter, evidence log {'on ' if evidence else 'off'} (round {rnd + 1}): {n} events in {FLUSHES} "
              f"flushes of {FLUSH_EVENTS}: {n / total:,.0f} events/s"
              + (f"; the checkpointer's tree catch-up (off the write path) {n / tree:,.0f} leaves/s" if evidence else ""))


@pytest.mark.parametrize("evidence", [False, True, False, True], ids=["off-1", "on-1", "off-2", "on-2"])
def test_sink_process_throughput(clickhouse, clickhouse_url, topics, kafka_env, evidence: bool, tmp_path) -> None:
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
                            sink_group=kafka_env["METERSTREAM_SINK_GROUP"], sink_consumers="usage",
                            clickhouse_url=clickhouse_url, evidence_enabled=evidence, evidence_key_path=tmp_path / "k.pem")
    sink = usage_sink(settings, client=clickhouse)
    stop = threading.Event()
    t0 = time.perf_counter()
    th = threading.Thread(target=sink.run, args=(stop,), daemon=True)
    th.start()
    ckpt = checkpointer(settings, connect(settings.clickhouse_url))  # as `meterstream sink` runs it, beside the consumer
    if ckpt is not None:
        threading.Thread(target=ckpt.run, args=(stop,), daemon=True).start()
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
    print(f"\nsink process, evidence log {'on' if evidence else 'off'}: {n} events ({n_msgs} messages of {PER_MESSAGE}) in {elapsed:.1f} s incl. group join: "
          f"{n / elapsed:,.0f} events/s, {sink.flushes} flushes")

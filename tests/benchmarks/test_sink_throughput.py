"""Sink throughput into embedded ClickHouse: events/s per sink process, and where the time goes.

Every figure is printed with the process CPU per event (chDB and librdkafka threads included: what the
machine's load does not distort) and beside the baseline of the same run: the same Avro bodies inserted
raw into a plain MergeTree (Null table, ARRAY JOIN view; no duplicate check, pricing, rollups or log).

Run: ``TZ=UTC .venv/bin/python -m pytest tests/benchmarks/test_sink_throughput.py -m benchmark -s``
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from datetime import datetime
from typing import Any, Sequence

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from meterstream.schemas import BatchCodec
from meterstream.schemas.codec import zz
from meterstream.schemas.resolve import BatchResolver
from meterstream.sinks.avro_container import container
from meterstream.sinks.settings import SinkSettings
from meterstream.sinks.usage_sink import usage_sink
from meterstream.sinks.clickhouse import connect, sibling
from meterstream.sinks.evidence.checkpointer import checkpointer
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


_RAW_FIELDS = [{"name": "flush_id", "type": "long"}, {"name": "kafka_partition", "type": "int"},
               {"name": "kafka_offset", "type": "long"}, {"name": "kafka_topic", "type": "string"}]
_ARRAYS = ("event_id, event_time, license_id, producer_id, sequence, feature, model, model_version, metric, quantity, "
           "status, latency_us, team, app, environment, purpose, hardware_id, region, input_hash, output_hash, provider, "
           "source, user_id, use_case, data_categories, sensitivity, trace_id, stage, decision_id, reservation_id")


class RawAvroInsert:
    """The baseline: the same message bodies as one Avro container into a Null table whose view unrolls them
    into a plain MergeTree: ClickHouse's Avro parse and one write of every event, nothing else."""

    def __init__(self, clickhouse: Any) -> None:
        self.client, self.resolver = clickhouse, BatchResolver()
        self.schema = dict(self.resolver.latest.schema)
        self.schema["fields"] = [*self.schema["fields"], *_RAW_FIELDS]
        clickhouse.command("CREATE TABLE IF NOT EXISTS bench_raw_in AS usage_batches_in")
        clickhouse.command("CREATE TABLE IF NOT EXISTS bench_raw_events AS usage_staging ENGINE = MergeTree "
                           "ORDER BY (license_id, event_time)")
        clickhouse.command(f"CREATE MATERIALIZED VIEW IF NOT EXISTS bench_raw_mv TO bench_raw_events AS SELECT "
                           f"{_ARRAYS}, flush_id, kafka_partition, kafka_offset, kafka_topic FROM bench_raw_in "
                           f"ARRAY JOIN {_ARRAYS}")

    def write(self, msgs: Sequence[Msg]) -> None:
        bodies = [self.resolver.body(m.value()) + zz(1) + zz(m.partition()) + zz(m.offset()) + zz(len(m.topic()))
                  + m.topic().encode() for m in msgs]
        self.client.raw_insert("bench_raw_in", insert_block=container(self.schema, bodies), fmt="Avro")


def _timed(fn: Any) -> tuple[float, float]:
    """Wall and process-CPU seconds of ``fn()``."""
    cpu, t0 = time.process_time(), time.perf_counter()
    fn()
    return time.perf_counter() - t0, time.process_time() - cpu


def _writer_round(clickhouse, url: str, codec: BatchCodec, values: list[bytes], evidence: bool,
                  tag: str) -> dict[str, tuple[float, float]]:
    """FLUSHES flushes through the real writer (as many clients as the sink's settings say), the checkpointer's
    catch-up of their trees, and the raw Avro insert of the same messages: (wall, CPU) seconds of each."""
    helpers = [sibling(clickhouse, url) for _ in range(SinkSettings().sink_write_threads - 1)]
    writer = UsageWriter(clickhouse, lambda m, r: None, helpers=helpers, evidence=evidence)
    raw = RawAvroInsert(clickhouse)
    per_flush = FLUSH_EVENTS // PER_MESSAGE
    out = {"writer": (0.0, 0.0), "tree": (0.0, 0.0), "raw": (0.0, 0.0)}
    log = EvidenceLog(LogStore(clickhouse), Signer(Ed25519PrivateKey.generate(), "bench"), Cadence(10**6, 10.0), "bench")

    def add(key: str, took: tuple[float, float]) -> None:
        out[key] = (out[key][0] + took[0], out[key][1] + took[1])
    for f in range(FLUSHES):
        msgs = [Msg(v, f * per_flush + i, i % 4, f"bench-{tag}")
                for i, v in enumerate(values[f * per_flush:(f + 1) * per_flush])]
        add("writer", _timed(lambda: writer.write({codec.schema.fingerprint: (codec.schema.schema, msgs)})))  # type: ignore[dict-item]
        if evidence:
            add("tree", _timed(lambda: log.catch_up([f"bench-{tag}/{p}" for p in range(4)])))
        add("raw", _timed(lambda: raw.write(msgs)))
    return out


def _rate(n: int, took: tuple[float, float]) -> str:
    return f"{n / took[0]:,.0f} events/s, {took[1] / n * 1e6:.2f} µs CPU/event"


def test_writer_throughput(clickhouse, clickhouse_url) -> None:
    """The ClickHouse side alone (the writer, rollup views included), evidence log off and on, alternating,
    each round beside the raw Avro insert of the same messages."""
    codec = BatchCodec()
    n = FLUSH_EVENTS * FLUSHES
    for rnd, evidence in enumerate((False, True, False, True)):
        tag = uuid.uuid4().hex[:6]
        took = _writer_round(clickhouse, clickhouse_url, codec, _messages(codec, n // PER_MESSAGE, tag), evidence, tag)
        print(f"\nwriter, evidence log {'on ' if evidence else 'off'} (round {rnd + 1}, load {os.getloadavg()[0]:.1f}): "
              f"{n} events in {FLUSHES} flushes of {FLUSH_EVENTS}: {_rate(n, took['writer'])}; "
              f"baseline raw Avro insert into a plain MergeTree: {_rate(n, took['raw'])}"
              + (f"; the checkpointer's tree catch-up (off the write path) {n / took['tree'][0]:,.0f} leaves/s"
                 if evidence else ""))


@pytest.mark.parametrize("evidence", [False, True, False, True], ids=["off-1", "on-1", "off-2", "on-2"])
def test_sink_process_throughput(clickhouse, clickhouse_url, topics, kafka_env, evidence: bool, tmp_path) -> None:
    """Kafka -> usage sink -> ClickHouse, messages produced beforehand; time from start to last commit."""
    codec, tag = BatchCodec(), uuid.uuid4().hex[:6]
    n_msgs = int(os.environ.get("BENCH_SINK_MESSAGES", 2000))  # of 500 events
    bootstrap = kafka_env["METERSTREAM_KAFKA_BOOTSTRAP_SERVERS"]
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "compression.type": "lz4"})
    values = _messages(codec, n_msgs, tag)
    for i, v in enumerate(values):
        p.produce(topics.usage, v, f"bench-{tag}-{i % 200}".encode())
        p.poll(0)
    assert p.flush(60) == 0
    settings = SinkSettings(kafka_bootstrap_servers=bootstrap, topic_prefix=topics.topic_prefix,
                            sink_group=kafka_env["METERSTREAM_SINK_GROUP"], sink_consumers="usage",
                            clickhouse_url=clickhouse_url, evidence_enabled=evidence, evidence_key_path=tmp_path / "k.pem")
    sink = usage_sink(settings, client=clickhouse)
    first: list[float] = []  # when the first message reached the target: the group join is over
    accept = sink.target.accept

    def timed_accept(msg: Any) -> Any:
        if not first:
            first.append(time.perf_counter())
        return accept(msg)
    sink.target.accept = timed_accept  # type: ignore[method-assign]
    stop = threading.Event()
    cpu0, t0 = time.process_time(), time.perf_counter()
    th = threading.Thread(target=sink.run, args=(stop,), daemon=True)
    th.start()
    ckpt = checkpointer(settings, connect(settings.clickhouse_url))  # as `meterstream sink` runs it, beside the consumer
    ckpt_th = threading.Thread(target=ckpt.run, args=(stop,), daemon=True) if ckpt is not None else None
    if ckpt_th is not None:
        ckpt_th.start()
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": settings.sink_group})
    parts = [TopicPartition(topics.usage, i) for i in range(topics.partitions)]
    ends = [c.get_watermark_offsets(tp)[1] for tp in parts]
    while _committed(c, parts) != ends:
        time.sleep(0.2)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    stop.set()
    th.join(30)
    if ckpt_th is not None:  # its last round catches every tree up to the last leaf and signs it: counted too
        ckpt_th.join(60)
    stopped, cpu_stopped = time.perf_counter() - t0, time.process_time() - cpu0
    c.close()
    n = n_msgs * PER_MESSAGE
    raw, per_flush, base = RawAvroInsert(clickhouse), FLUSH_EVENTS // PER_MESSAGE, (0.0, 0.0)
    for f in range(0, n_msgs, per_flush):  # the baseline: the same messages inserted raw, in the same process
        took = _timed(lambda: raw.write([Msg(v, f + i, i % 4, topics.usage) for i, v in enumerate(values[f:f + per_flush])]))
        base = (base[0] + took[0], base[1] + took[1])
    print(f"\nsink process, evidence log {'on' if evidence else 'off'}: {n} events ({n_msgs} messages of {PER_MESSAGE}) in {elapsed:.1f} s incl. group join: "
          f"{n / elapsed:,.0f} events/s ({n / (elapsed - (first[0] - t0)):,.0f} from the first message, "
          f"{first[0] - t0:.2f} s after start), {sink.flushes} flushes; process CPU {cpu / n * 1e6:.2f} µs/event "
          f"(load {os.getloadavg()[0]:.1f}); stopped{' and every log signed to its end' if evidence else ''} "
          f"after {stopped:.1f} s, process CPU until then {cpu_stopped / n * 1e6:.2f} µs/event; baseline, the same messages as raw Avro inserts into a plain MergeTree: "
          f"{_rate(n, base)}")

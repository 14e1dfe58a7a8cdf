"""Fixtures of the stream-processor integration tests: workers as subprocesses, licenses, alerts."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from meterstream.config import KafkaSettings, Topics
from meterstream.process import spawn, terminate, wait_http
from meterstream.schemas import BatchCodec, RecordCodec
from meterstream.stream_processors.license.admin import LicenseAdmin
from tests.helpers import free_port


class Worker:
    """One ``meterstream processor`` subprocess."""

    def __init__(self, proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.proc, self.port, self.log = proc, port, log
        self.url = f"http://127.0.0.1:{port}"


@pytest.fixture
def start_worker(kafka_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    """Start workers (``extra`` env overrides); every one still running is stopped at the end."""
    started: list[Worker] = []

    def start(name: str = "w1", extra: dict[str, str] | None = None, wait: float = 120) -> Worker:
        port = free_port()
        env = {**kafka_env, "METERSTREAM_PROCESSOR_WEB_PORT": str(port),
               "METERSTREAM_PROCESSOR_DATA_DIR": str(tmp_path / name),
               "METERSTREAM_PROCESSOR_UNKNOWN_LICENSE_GRACE_S": "20", **(extra or {})}
        log = tmp_path / f"{name}.log"
        w = Worker(spawn(["processor"], log, env), port, log)
        started.append(w)
        try:
            wait_http(f"{w.url}/v1/stats", wait, w.proc)
        except Exception:
            print(log.read_text()[-5000:])
            raise
        return w

    yield start
    for w in started:
        terminate(w.proc)


@pytest.fixture
def admin(kafka_env: dict[str, str], topics: Topics) -> Iterator[LicenseAdmin]:
    with LicenseAdmin(KafkaSettings(kafka_bootstrap_servers=kafka_env["METERSTREAM_KAFKA_BOOTSTRAP_SERVERS"]),
                      topics) as a:
        yield a


class RawProducer:
    """Sends hand-made usage batches (crafted traffic: any sequence numbers, times, models)."""

    def __init__(self, bootstrap: str, topics: Topics) -> None:
        self.topics = topics
        self.codec = BatchCodec()
        self.producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5})

    def send(self, license_id: str, cols: dict[str, list[Any]]) -> None:
        full = {**cols, "license_id": [license_id] * len(cols["event_time"])}
        for name, default in (("status", "ok"), ("latency_us", None), ("app", ""), ("environment", ""),
                              ("purpose", ""), ("input_hash", None), ("output_hash", None)):
            full.setdefault(name, [default] * len(cols["event_time"]))
        self.producer.produce(self.topics.usage, self.codec.encode(full), license_id.encode())
        self.producer.poll(0)

    def flush(self) -> None:
        assert self.producer.flush(30) == 0


@pytest.fixture
def raw_producer(kafka_bootstrap: str, topics: Topics) -> Iterator[RawProducer]:
    p = RawProducer(kafka_bootstrap, topics)
    yield p
    p.flush()


def read_alerts(bootstrap: str, topics: Topics, idle: float = 2.0, timeout: float = 60.0) -> list[tuple[bytes, dict]]:
    """Every (key, alert) on the alerts topic, until nothing new came for ``idle`` seconds."""
    codec = RecordCodec("alert")
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"read-{time.time_ns()}",
                  "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    meta = c.list_topics(topics.alerts, timeout=10).topics[topics.alerts]
    c.assign([TopicPartition(topics.alerts, p, 0) for p in meta.partitions])
    out: list[tuple[bytes, dict]] = []
    last = time.monotonic()
    deadline = last + timeout
    try:
        while time.monotonic() - last < idle and time.monotonic() < deadline:
            for msg in c.consume(1000, timeout=0.3):
                if msg.error() is None:
                    out.append((msg.key(), codec.decode(msg.value())))
                    last = time.monotonic()
    finally:
        c.close()
    return out

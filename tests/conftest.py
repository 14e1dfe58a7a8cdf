"""Session fixtures: real Kafka and real (embedded) ClickHouse, started once.

Kafka: ``KAFKA_BOOTSTRAP_SERVERS`` if set; else a testcontainers broker if a
Docker engine answers; else the local broker from ``infra/kafka`` on its own
ports and a fresh data directory. With ``CI=true`` a broker that cannot start
fails the run; it is never a skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Iterator

import pytest

os.environ["TZ"] = "UTC"
time.tzset()
# Sinks started by tests (in process or as children) serve their query endpoint on any free port, so
# they never clash with each other or with a sink already running on this machine (8124).
os.environ.setdefault("METERSTREAM_QUERY_PORT", "0")

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _docker_answers() -> bool:
    if not shutil.which("docker"):
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"Kafka is required in CI: {reason}", pytrace=False)
    pytest.skip(f"no Kafka broker: {reason}")


@pytest.fixture(scope="session")
def local_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object | None]:
    """The LocalKafka the tests started (None when an external or Docker broker is used)."""
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or _docker_answers():
        yield None
        return
    from meterstream.infra.kafka import LocalKafka

    port = int(os.environ.get("METERSTREAM_TEST_KAFKA_PORT", "19092"))
    broker = LocalKafka(port=port, controller_port=port + 1,
                        data_dir=tmp_path_factory.mktemp("kafka") / "data")
    try:
        broker.start(timeout=180)
    except Exception as exc:  # noqa: BLE001 - any failure to start is reported the same way
        _unavailable(f"local broker did not start: {exc}")
    yield broker
    broker.stop()


def _warm_up(bootstrap: str, timeout: float = 90.0) -> None:
    """One produce and one consumer-group read, so the group coordinator (and its internal
    offsets topic) exists before the first test's consumers join."""
    from confluent_kafka import Consumer, Producer

    topic = f"warmup-{uuid.uuid4().hex[:8]}"
    producer = Producer({"bootstrap.servers": bootstrap})
    producer.produce(topic, b"warm-up")
    if producer.flush(timeout):
        _unavailable(f"broker at {bootstrap} did not acknowledge a message within {timeout}s")
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{topic}-group",
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is not None and msg.error() is None:
                consumer.commit(msg, asynchronous=False)
                return
        _unavailable(f"a consumer group on {bootstrap} got no assignment within {timeout}s")
    finally:
        consumer.close()


@pytest.fixture(scope="session")
def kafka_bootstrap(local_broker: object | None) -> Iterator[str]:
    """host:port of a running Kafka broker."""
    env = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if env:
        yield env
        return
    if local_broker is not None:
        _warm_up(local_broker.bootstrap_servers)  # type: ignore[attr-defined]
        yield local_broker.bootstrap_servers  # type: ignore[attr-defined]
        return
    from testcontainers.kafka import KafkaContainer

    try:
        container = KafkaContainer().with_kraft()
        container.start()
    except Exception as exc:  # noqa: BLE001
        _unavailable(f"testcontainers Kafka did not start: {exc}")
    yield container.get_bootstrap_server()
    container.stop()


@pytest.fixture(scope="session")
def clickhouse_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The one embedded ClickHouse data directory of this test process (chDB allows one per process)."""
    return tmp_path_factory.mktemp("clickhouse") / "db"


@pytest.fixture(scope="session")
def clickhouse_url(clickhouse_path: Path) -> str:
    return f"chdb://{clickhouse_path}"


@pytest.fixture(scope="session")
def clickhouse(clickhouse_url: str):  # type: ignore[no-untyped-def]
    """A client of the session's embedded ClickHouse, migrations applied."""
    from meterstream.sinks.clickhouse import connect
    from meterstream.sinks.migrations import migrate

    client = connect(clickhouse_url)
    migrate(client)
    return client


@pytest.fixture
def prefix() -> str:
    """A topic prefix (and consumer-group suffix) unique to one test."""
    return f"t{uuid.uuid4().hex[:10]}."


@pytest.fixture
def kafka_env(kafka_bootstrap: str, prefix: str, clickhouse_url: str) -> dict[str, str]:
    """Environment for meterstream processes of one test: its own topics and groups."""
    return {
        "METERSTREAM_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "METERSTREAM_TOPIC_PREFIX": prefix,
        "METERSTREAM_PROCESSOR_APP_ID": f"{prefix}processor",
        "METERSTREAM_SINK_GROUP": f"{prefix}sink",
        "METERSTREAM_CLICKHOUSE_URL": clickhouse_url,
    }


@pytest.fixture
def topics(kafka_env: dict[str, str]):  # type: ignore[no-untyped-def]
    """This test's topics, created."""
    from meterstream.config import KafkaSettings, Topics
    from meterstream.kafka.topics import ensure_topics, pipeline_topics

    t = Topics(topic_prefix=kafka_env["METERSTREAM_TOPIC_PREFIX"])
    ensure_topics(KafkaSettings(kafka_bootstrap_servers=kafka_env["METERSTREAM_KAFKA_BOOTSTRAP_SERVERS"]), pipeline_topics(t))
    return t


# In CI a skip is a gap, not a pass: a module of the test extra that failed to install, or a fixture
# that could not start, must turn the run red. Only the tests that need torch may skip there (torch is
# deliberately kept out of every extra: it pulls gigabytes of CUDA wheels).
SKIP_ALLOWED_IN_CI = ("torch", "transformers")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        reason = str(report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr)
        if not any(name in reason for name in SKIP_ALLOWED_IN_CI):
            report.outcome = "failed"
            report.longrepr = f"skipped in CI, which counts as a failure: {reason}"

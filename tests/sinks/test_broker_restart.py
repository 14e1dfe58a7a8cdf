"""Crash the broker under a running sink, restart it after a long outage: the sink resumes, every event once.

Prints how long after the broker answered again the sink had written and committed
the events produced since, beside a consumer with the classic group protocol and its
defaults (what the sink's consumer was before issue 16 item 6) reading the same topic
in the same run. Nothing is asserted about the times (the machine is shared); the
counts are exact.
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import datetime
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaException

from meterstream.process import spawn, terminate
from tests.helpers import wait_for
from tests.sinks.conftest import batch
from tests.sinks.test_crash_exactly_once import _all_committed, _produce, _sql

pytestmark = [pytest.mark.integration, pytest.mark.slow]
LICENSES, PER_MESSAGE = 10, 100
# Longer than the classic protocol's 45 s session: the broker restarts having expired nothing, while the
# consumer has given its membership up and rejoins as a stranger (the ~36-45 s stall of issue 16 item 6).
DOWN_S = 50


class ClassicReader(threading.Thread):
    """A group consumer with the classic protocol's defaults: counts events read, notes when each arrives."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        super().__init__(daemon=True)
        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"classic-{uuid.uuid4().hex[:8]}",
                                  "group.protocol": "classic", "auto.offset.reset": "earliest",
                                  "enable.auto.commit": True, "log_level": 0})
        self.consumer.subscribe([topic])
        self.messages = 0
        self.last_at = 0.0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            for m in self.consumer.consume(1000, 0.1):
                if m.error() is None:
                    self.messages += 1
                    self.last_at = time.monotonic()
        self.consumer.close()


def _messages(round_: int) -> list[tuple[str, dict]]:
    return [(f"lic-{i:02d}", batch(f"lic-{i:02d}", PER_MESSAGE, when=datetime(2026, 4, 1, 10 + round_)))
            for i in range(LICENSES)]


def test_sink_resumes_after_a_broker_restart(local_broker, kafka_env, topics,  # type: ignore[no-untyped-def]
                                             tmp_path: Path) -> None:
    if local_broker is None:
        pytest.skip("needs the local broker, to restart it")
    bootstrap, group = kafka_env["METERSTREAM_KAFKA_BOOTSTRAP_SERVERS"], kafka_env["METERSTREAM_SINK_GROUP"]
    url = f"chdb://{tmp_path / 'sink-ch'}"
    env = {**kafka_env, "METERSTREAM_CLICKHOUSE_URL": url, "METERSTREAM_SINK_CONSUMERS": "usage",
           "METERSTREAM_SINK_FLUSH_ROWS": "3000", "METERSTREAM_SINK_FLUSH_MS": "200"}

    def committed() -> bool:
        try:
            return _all_committed(bootstrap, group, topics.usage, topics.partitions)
        except KafkaException:  # the restarted coordinator still loading: ask again
            return False
    before = _messages(0)
    _produce(bootstrap, topics.usage, before)
    sink = spawn(["sink"], tmp_path / "sink.log", env)
    classic = ClassicReader(bootstrap, topics.usage)
    classic.start()
    try:
        wait_for(committed, 180, interval=0.5, what="the first events committed")
        wait_for(lambda: classic.messages >= len(before), 120, what="the classic reader to read them")
        local_broker.kill()
        time.sleep(DOWN_S)
        local_broker.start(timeout=180)
        ready = time.monotonic()
        after = _messages(1)
        _produce(bootstrap, topics.usage, after)
        wait_for(committed, 180, interval=0.2, what="the events produced after the restart committed")
        resumed = time.monotonic() - ready
        wait_for(lambda: classic.messages >= len(before) + len(after), 180, interval=0.2,
                 what="the classic reader to read them")
        classic_resumed = classic.last_at - ready
    finally:
        classic.stop.set()
        code = terminate(sink)
    assert code == 0, (tmp_path / "sink.log").read_text()[-3000:]
    sent = 2 * LICENSES * PER_MESSAGE
    raw = _sql(url, "SELECT count() AS n, uniqExact(event_id) AS ids FROM usage_events")[0]
    assert (raw["n"], raw["ids"]) == (sent, sent)
    expected = {str(uuid.UUID(e)) for _, cols in before + after for e in cols["event_id"]}
    got = _sql(url, "SELECT groupArray(toString(event_id)) AS ids FROM usage_events")[0]["ids"]
    assert set(got) == expected
    print(f"\nbroker SIGKILLed, down {DOWN_S} s, restarted: the sink wrote and committed the new events "
          f"{resumed:.1f} s after the broker answered; a classic-protocol consumer with default settings (the "
          f"sink's consumer before issue 16 item 6) read them {classic_resumed:.1f} s after it, in the same run")

"""A ClickHouse write that fails is retried with back-off; its offsets are not committed until it succeeds."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from meterstream.schemas import BatchCodec
from meterstream.sinks.settings import SinkSettings
from meterstream.sinks.usage_sink import usage_sink
from tests.helpers import wait_for
from tests.sinks.conftest import batch

pytestmark = pytest.mark.integration


class FailingMoves:
    """The real client, except that the first ``n`` writes into usage_events fail (a server outage): an
    insert-select into it, or the Avro insert whose view writes it (the usage ingest table)."""

    def __init__(self, client: Any, n: int) -> None:
        self.client, self.left, self.failed = client, n, 0

    def _fail(self) -> None:
        self.left -= 1
        self.failed += 1
        raise ConnectionError("server went away")

    def command(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        if "INSERT INTO usage_events" in sql and self.left:
            self._fail()
        return self.client.command(sql, *args, **kwargs)

    def raw_insert(self, table: str, *args: Any, **kwargs: Any) -> Any:
        if table.startswith("usage_ingest") and self.left:
            self._fail()
        return self.client.raw_insert(table, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


def test_failed_write_is_retried_and_not_committed_meanwhile(clickhouse, topics, kafka_env, tag) -> None:
    lic, bootstrap = f"lic-{tag}", kafka_env["METERSTREAM_KAFKA_BOOTSTRAP_SERVERS"]
    p = Producer({"bootstrap.servers": bootstrap})
    for _ in range(5):
        p.produce(topics.usage, BatchCodec().encode(batch(lic, 20, when=datetime(2026, 6, 1))), lic.encode())
    assert p.flush(30) == 0
    client = FailingMoves(clickhouse, 3)
    settings = SinkSettings(kafka_bootstrap_servers=bootstrap, topic_prefix=topics.topic_prefix,
                            sink_group=kafka_env["METERSTREAM_SINK_GROUP"], sink_flush_ms=100, sink_retry_max_s=0.5)
    sink = usage_sink(settings, client=client)  # type: ignore[arg-type]
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": settings.sink_group})
    parts = [TopicPartition(topics.usage, i) for i in range(topics.partitions)]
    committed: list[int] = []
    stop = threading.Event()
    t = threading.Thread(target=sink.run, args=(stop,), daemon=True)
    t.start()
    try:
        while client.failed < 3:
            committed += [tp.offset for tp in c.committed(parts, timeout=10) if tp.offset >= 0]
            stop.wait(0.05)
        wait_for(lambda: clickhouse.query("SELECT count() FROM usage_events WHERE license_id = {l:String}",
                                          parameters={"l": lic}).result_rows[0][0] == 100, 60, what="events")
    finally:
        stop.set()
        t.join(30)
    assert committed == [], "offsets were committed before the write succeeded"
    assert sum(tp.offset for tp in c.committed(parts, timeout=10) if tp.offset > 0) == 5
    c.close()
    row = clickhouse.query("SELECT count(), uniqExact(event_id) FROM usage_events WHERE license_id = {l:String}",
                           parameters={"l": lic}).result_rows[0]
    assert row == (100, 100)

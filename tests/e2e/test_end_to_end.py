"""The skeleton flow end to end: producer library -> Kafka -> Faust table and ClickHouse."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import pytest

from meterstream.process import get_json, spawn, terminate, wait_http
from meterstream.producers import Meter
from meterstream.producers.traffic import generate
from meterstream.sinks.settings import SinkSettings
from meterstream.sinks.usage_sink import usage_sink
from tests.helpers import free_port, wait_for

pytestmark = pytest.mark.integration

EVENTS, LICENSES = 10_000, 50


def test_ten_thousand_events_land_exactly_once(kafka_env, topics, clickhouse, tmp_path: Path) -> None:
    port = free_port()
    env = {**kafka_env, "METERSTREAM_PROCESSOR_WEB_PORT": str(port),
           "METERSTREAM_PROCESSOR_DATA_DIR": str(tmp_path / "processor")}
    processor = spawn(["processor"], tmp_path / "processor.log", env)
    stop = threading.Event()
    sink_thread = None
    try:
        wait_http(f"http://127.0.0.1:{port}/totals/", 120, processor)
        sink = usage_sink(SinkSettings(kafka_bootstrap_servers=kafka_env["METERSTREAM_KAFKA_BOOTSTRAP_SERVERS"],
                                      topic_prefix=topics.topic_prefix,
                                      sink_group=kafka_env["METERSTREAM_SINK_GROUP"],
                                      clickhouse_url=kafka_env["METERSTREAM_CLICKHOUSE_URL"],
                                      sink_flush_ms=200), client=clickhouse)
        sink_thread = threading.Thread(target=sink.run, args=(stop,), daemon=True)
        sink_thread.start()

        with Meter(kafka_bootstrap_servers=kafka_env["METERSTREAM_KAFKA_BOOTSTRAP_SERVERS"],
                   topic_prefix=topics.topic_prefix, batch_max_events=200, linger_ms=20) as meter:
            sent = generate(meter, EVENTS, LICENSES, seed=11)
            meter.flush()
            pid = meter.producer_id
        assert sum(sent.events.values()) == EVENTS and len(sent.events) == LICENSES

        def landed() -> int:
            return clickhouse.query("SELECT count() FROM usage_events WHERE producer_id = {p:String}",
                                    parameters={"p": pid}).result_rows[0][0]
        wait_for(lambda: landed() >= EVENTS, 120, what="events in ClickHouse")

        rows = clickhouse.query(
            "SELECT license_id, metric, count(), sum(quantity) * 1000000, uniqExact(event_id) FROM usage_events "
            "WHERE producer_id = {p:String} GROUP BY license_id, metric", parameters={"p": pid}).result_rows
        ch_events: Counter[str] = Counter()
        ch_quantity: dict[str, dict[str, int]] = {}
        for lic, metric, n, qty, distinct in rows:
            assert n == distinct, f"duplicate event ids for {lic}/{metric}"
            ch_events[lic] += n
            ch_quantity.setdefault(lic, {})[metric] = int(qty)
        assert dict(ch_events) == sent.events
        assert ch_quantity == sent.quantity
        assert landed() == EVENTS

        def faust_totals() -> dict | None:
            totals = get_json(f"http://127.0.0.1:{port}/totals/")
            done = sum(v["events"] for v in totals.values())
            return totals if done >= EVENTS else None
        totals = wait_for(faust_totals, 60, what="Faust totals")
        assert {lic: v["events"] for lic, v in totals.items()} == sent.events
        assert {lic: {m: int(q) for m, q in v["quantity"].items()} for lic, v in totals.items()} == sent.quantity
        # One license through the routed per-license view.
        one = next(iter(sent.events))
        assert get_json(f"http://127.0.0.1:{port}/totals/{one}/")["events"] == sent.events[one]
    finally:
        stop.set()
        if sink_thread is not None:
            sink_thread.join(30)
        terminate(processor)

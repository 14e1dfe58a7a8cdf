"""Usage event v1 and v2 side by side through the real pipeline: an old producer's v1 batches and the
library's v2 batches for the same licenses, through Kafka to the Faust processor and the ClickHouse sink."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from meterstream.process import get_json, spawn, terminate, wait_http
from meterstream.producers import Meter, ProducerSettings
from meterstream.producers.delivery import producer_config
from meterstream.schemas import BatchCodec
from meterstream.sinks.settings import SinkSettings
from meterstream.sinks.usage_sink import usage_sink
from tests.helpers import free_port, wait_for

pytestmark = pytest.mark.integration

LICENSES = [f"lic-v{i}-{uuid.uuid4().hex[:6]}" for i in range(4)]
V1_BATCHES, V1_PER_BATCH, V2_PER_LICENSE = 3, 40, 150


def v1_columns(license_id: str, start: int, n: int) -> dict[str, list[Any]]:
    """One batch of an old producer (v1 fields only), sequence numbers from ``start``."""
    now = time.time_ns() // 1000
    return {
        "event_id": [str(uuid.uuid4()) for _ in range(n)], "event_time": [now + i for i in range(n)],
        "license_id": [license_id] * n, "producer_id": ["old-producer"] * n, "sequence": list(range(start, start + n)),
        "feature": ["chat"] * n, "model": ["llama-3"] * n, "model_version": ["3.1"] * n,
        "metric": ["input_tokens"] * n, "quantity": [7_000_000] * n, "status": ["ok"] * n,
        "latency_us": [1000] * n, "team": ["legacy"] * n, "app": ["old"] * n, "environment": ["prod"] * n,
        "purpose": [""] * n, "hardware_id": ["gpu-0"] * n, "region": ["eu"] * n, "input_hash": [None] * n,
        "output_hash": [None] * n,
    }


def produce_v1(settings: ProducerSettings) -> int:
    """What a producer of the first release sends: v1-encoded batches, keyed by license. Returns events."""
    codec, p = BatchCodec(version=1), Producer(producer_config(settings))
    for lic in LICENSES:
        for b in range(V1_BATCHES):
            p.produce(settings.usage, codec.encode(v1_columns(lic, b * V1_PER_BATCH, V1_PER_BATCH)), lic.encode())
    assert p.flush(60) == 0
    return len(LICENSES) * V1_BATCHES * V1_PER_BATCH


def record_v2(settings: ProducerSettings) -> int:
    """The library (v2) for the same licenses: two pipeline stages per request, governance tags."""
    with Meter(settings, provider="openai", use_case="uc-support", sensitivity="confidential",
               data_categories=["pii"], batch_max_events=64, linger_ms=20) as meter:
        for i in range(V2_PER_LICENSE // 3):
            for lic in LICENSES:
                trace = f"{i:016x}{LICENSES.index(lic):016x}"
                meter.record(lic, "input_tokens", 10, trace_id=trace, stage="retrieve", user_id=f"u{i % 5}")
                meter.record(lic, "cached_input_tokens", 4, trace_id=trace, stage="retrieve")
                meter.record(lic, "output_tokens", 3, trace_id=trace, stage="generate", provider="self-hosted",
                             data_categories=[], decision_id=f"dec-{i}", reservation_id=f"res-{i}")
        meter.flush()
    return len(LICENSES) * V2_PER_LICENSE


def start_sink(kafka_env: dict[str, str], prefix: str, clickhouse: Any, stop: threading.Event) -> threading.Thread:
    sink = usage_sink(SinkSettings(kafka_bootstrap_servers=kafka_env["METERSTREAM_KAFKA_BOOTSTRAP_SERVERS"],
                                   topic_prefix=prefix, sink_group=kafka_env["METERSTREAM_SINK_GROUP"],
                                   clickhouse_url=kafka_env["METERSTREAM_CLICKHOUSE_URL"], sink_flush_ms=200),
                      client=clickhouse)
    thread = threading.Thread(target=sink.run, args=(stop,), daemon=True)
    thread.start()
    return thread


def q(clickhouse: Any, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in clickhouse.query(sql, parameters={"lics": LICENSES}).result_rows]


def test_v1_and_v2_batches_side_by_side(kafka_env, topics, clickhouse, tmp_path: Path) -> None:
    port = free_port()
    env = {**kafka_env, "METERSTREAM_PROCESSOR_WEB_PORT": str(port),
           "METERSTREAM_PROCESSOR_DATA_DIR": str(tmp_path / "processor")}
    processor = spawn(["processor"], tmp_path / "processor.log", env)
    stop = threading.Event()
    sink_thread = None
    try:
        wait_http(f"http://127.0.0.1:{port}/totals/", 120, processor)
        sink_thread = start_sink(kafka_env, topics.topic_prefix, clickhouse, stop)
        settings = ProducerSettings(kafka_bootstrap_servers=kafka_env["METERSTREAM_KAFKA_BOOTSTRAP_SERVERS"],
                                    topic_prefix=topics.topic_prefix, model="llama-3", spool_dir=tmp_path / "spool")
        total = produce_v1(settings) + record_v2(settings)
        where = "license_id IN {lics:Array(String)}"
        wait_for(lambda: q(clickhouse, f"SELECT count() FROM usage_events WHERE {where}")[0][0] >= total, 120,
                 what="events in ClickHouse")
        check_counted_once(clickhouse, where, total)
        check_v1_defaults_and_v2_values(clickhouse, where)
        check_rollups_equal_raw(clickhouse, where)
        check_processor_totals(port, total)
    finally:
        stop.set()
        if sink_thread is not None:
            sink_thread.join(30)
        terminate(processor)


def check_counted_once(clickhouse: Any, where: str, total: int) -> None:
    time.sleep(1.0)  # anything that would be a second copy
    (n, distinct), = q(clickhouse, f"SELECT count(), uniqExact(event_id) FROM usage_events WHERE {where}")
    assert n == distinct == total


def check_v1_defaults_and_v2_values(clickhouse: Any, where: str) -> None:
    v1 = q(clickhouse, "SELECT DISTINCT provider, source, user_id, use_case, data_categories, sensitivity, trace_id, "
                       f"stage, decision_id, reservation_id FROM usage_events WHERE {where} "
                       "AND producer_id = 'old-producer'")
    assert v1 == [("", "", "", "", [], "", None, "", None, None)]
    v2 = q(clickhouse, "SELECT metric, provider, source, use_case, data_categories, sensitivity, stage, "
                       "count(), uniqExact(trace_id), countIf(decision_id IS NOT NULL), uniqExact(user_id) "
                       f"FROM usage_events WHERE {where} AND producer_id != 'old-producer' GROUP BY ALL ORDER BY ALL")
    per = len(LICENSES) * V2_PER_LICENSE // 3
    assert v2 == [("cached_input_tokens", "openai", "library", "uc-support", ["pii"], "confidential", "retrieve",
                   per, per, 0, 1),
                  ("input_tokens", "openai", "library", "uc-support", ["pii"], "confidential", "retrieve",
                   per, per, 0, 5),
                  ("output_tokens", "self-hosted", "library", "uc-support", [], "confidential", "generate",
                   per, per, per, 1)]


def check_rollups_equal_raw(clickhouse: Any, where: str) -> None:
    keys = "license_id, provider, use_case, stage, metric"
    raw = q(clickhouse, f"SELECT {keys}, count(), sum(quantity) FROM usage_events WHERE {where} GROUP BY ALL ORDER BY ALL")
    for table in ("usage_hourly", "usage_daily", "usage_monthly"):
        rolled = q(clickhouse, f"SELECT {keys}, sum(events), sum(quantity) FROM {table} WHERE {where} "
                               "GROUP BY ALL ORDER BY ALL")
        assert rolled == raw, table
    assert len({r[1:4] for r in raw}) == 3  # v1 ('', '', ''), retrieve and generate


def check_processor_totals(port: int, total: int) -> None:
    def counted() -> dict[str, Any] | None:
        totals = get_json(f"http://127.0.0.1:{port}/totals/")
        mine = {lic: v for lic, v in totals.items() if lic in LICENSES}
        return mine if sum(v["events"] for v in mine.values()) >= total else None
    totals = wait_for(counted, 90, what="processor totals")
    per = V2_PER_LICENSE // 3
    for lic in LICENSES:  # quantities unscaled (x 10^6), as the processor keeps them
        assert totals[lic]["events"] == V1_BATCHES * V1_PER_BATCH + V2_PER_LICENSE
        assert {m: int(x) for m, x in totals[lic]["quantity"].items()} == {
            "input_tokens": (7 * V1_BATCHES * V1_PER_BATCH + 10 * per) * 10**6,
            "cached_input_tokens": 4 * per * 10**6, "output_tokens": 3 * per * 10**6}

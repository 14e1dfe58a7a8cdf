"""OTLP receiver benchmark: GenAI spans per second in one receiver process, through its HTTP server into
the producer library and Kafka, beside the decode-and-map cost alone (no HTTP, no Meter).

Each export is one ExportTraceServiceRequest of 512 spans (the OTel SDK's BatchSpanProcessor default),
posted by keep-alive HTTP clients in threads of this same process: the figure is per process, client
included, so it understates what a receiver serving remote exporters does.

Run: ``TZ=UTC .venv/bin/python -m pytest tests/benchmarks/test_otlp_receiver_bench.py -m benchmark -s``
(environment: BENCH_SPANS to change the size).
"""

from __future__ import annotations

import http.client
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from meterstream.config import KafkaSettings, Topics
from meterstream.kafka.topics import ensure_topics, pipeline_topics
from meterstream.producers import Meter
from meterstream.producers.otlp.attribute_map import AttributeMap
from meterstream.producers.otlp.payload import decode_protobuf
from meterstream.producers.otlp.receiver import OtlpReceiver
from meterstream.producers.otlp.settings import OtlpSettings
from meterstream.producers.otlp.span_events import span_usage

pytest.importorskip("opentelemetry.sdk")
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans  # noqa: E402

from tests.producers.otlp.genai_spans import Mix, make_spans  # noqa: E402

pytestmark = [pytest.mark.benchmark, pytest.mark.integration]
SPANS = int(os.environ.get("BENCH_SPANS", 200_000))
PER_EXPORT = 512


def _bodies(n: int) -> list[bytes]:
    """Distinct exports (new trace/span ids each), so the dedup window never drops one."""
    out = []
    for i in range(n):
        spans = make_spans(f"lic-{i % 50:03d}", Mix(openai=PER_EXPORT, anthropic=0, failed=0, agent=0, plain=0,
                                                    no_model=0))
        out.append(encode_spans(spans).SerializeToString())
    return out


def _post_all(port: int, bodies: list[bytes]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port)
    for body in bodies:
        conn.request("POST", "/v1/traces", body, {"Content-Type": "application/x-protobuf"})
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 200
    conn.close()


def test_receiver_spans_per_second(kafka_bootstrap: str, tmp_path: Path) -> None:
    exports = max(4, SPANS // PER_EXPORT)
    bodies = _bodies(exports)
    t0 = time.perf_counter()
    mapping = AttributeMap()
    mapped = sum(span_usage(s, mapping, None) is not None for b in bodies[:20] for s in decode_protobuf(b))
    decode_rate = mapped / (time.perf_counter() - t0)

    topics = Topics(topic_prefix=f"bench-otlp-{time.time_ns()}.")
    ensure_topics(KafkaSettings(kafka_bootstrap_servers=kafka_bootstrap), pipeline_topics(topics))
    with Meter(kafka_bootstrap_servers=kafka_bootstrap, topic_prefix=topics.topic_prefix,
               spool_dir=tmp_path / "spool") as meter:
        receiver = OtlpReceiver(meter, OtlpSettings(otlp_port=0, otlp_dedup_spans=4 * SPANS))
        server, _ = receiver.start()
        port = server.server_address[1]
        started = time.perf_counter()
        clients = [threading.Thread(target=_post_all, args=(port, bodies[i::2])) for i in range(2)]
        for c in clients:
            c.start()
        for c in clients:
            c.join()
        answered = time.perf_counter() - started
        meter.flush(120)
        delivered = time.perf_counter() - started
        server.shutdown()
    spans = exports * PER_EXPORT
    assert receiver.stats.recorded_spans == spans
    print(f"\nOTLP receiver: decode+map {decode_rate:,.0f} spans/s; {spans:,} spans ({receiver.stats.events:,} "
          f"events) over HTTP in {answered:.2f}s = {spans / answered:,.0f} spans/s answered, "
          f"{spans / delivered:,.0f} spans/s acknowledged by Kafka")

"""Usage that never touches Meter.record, through the real pipeline: the real opentelemetry-sdk OTLP/HTTP
exporter -> the OTLP receiver -> Kafka -> the Faust processor and the ClickHouse sink; the real openai and
anthropic SDKs (against a local fake API) through meter.instrument; priced across providers with the sample
list-price catalog, and a call metered through two paths found by the double-path query."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
import uuid
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any, Iterator

import pytest

from meterstream.process import get_json, spawn, terminate, wait_http
from meterstream.producers import Meter, ProducerSettings
from meterstream.producers.otlp.receiver import OtlpReceiver
from meterstream.producers.otlp.settings import OtlpSettings
from meterstream.sinks.pricing.catalog import load_catalog
from meterstream.sinks.query_pack import run, text
from meterstream.sinks.settings import SinkSettings
from meterstream.sinks.usage_sink import usage_sink
from tests.helpers import free_port, wait_for

pytest.importorskip("opentelemetry.exporter.otlp.proto.http")
openai = pytest.importorskip("openai")
anthropic = pytest.importorskip("anthropic")
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: E402
from opentelemetry.sdk.trace.export import SpanExportResult  # noqa: E402

from tests.producers.instrument.fake_llm_api import FakeLlmApi  # noqa: E402
from tests.producers.otlp.genai_spans import Mix, make_spans  # noqa: E402

pytestmark = pytest.mark.integration
SAMPLE = Path(str(resources.files("meterstream.sinks.pricing").joinpath("provider_list_prices.csv")))


@pytest.fixture
def sink(kafka_env: dict[str, str], topics: Any, clickhouse: Any) -> Iterator[None]:
    stop = threading.Event()
    s = usage_sink(SinkSettings(kafka_bootstrap_servers=kafka_env["METERSTREAM_KAFKA_BOOTSTRAP_SERVERS"],
                                topic_prefix=topics.topic_prefix, sink_group=kafka_env["METERSTREAM_SINK_GROUP"],
                                clickhouse_url=kafka_env["METERSTREAM_CLICKHOUSE_URL"], sink_flush_ms=200),
                   client=clickhouse)
    thread = threading.Thread(target=s.run, args=(stop,), daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(30)


def producer_settings(kafka_env: dict[str, str], tmp_path: Path, name: str) -> ProducerSettings:
    return ProducerSettings(kafka_bootstrap_servers=kafka_env["METERSTREAM_KAFKA_BOOTSTRAP_SERVERS"],
                            topic_prefix=kafka_env["METERSTREAM_TOPIC_PREFIX"], spool_dir=tmp_path / name,
                            linger_ms=20)


def count(clickhouse: Any, lic: str, extra: str = "") -> tuple[int, int]:
    (n, distinct), = clickhouse.query(f"SELECT count(), uniqExact(event_id) FROM usage_events WHERE license_id = "
                                      f"{{l:String}} {extra}", parameters={"l": lic}).result_rows
    return int(n), int(distinct)


def post(url: str, body: bytes, content_type: str) -> tuple[int, bytes]:
    request = urllib.request.Request(url, body, {"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_otel_exporter_retry_and_malformed_through_the_pipeline(kafka_env, topics, clickhouse, sink,
                                                                tmp_path: Path) -> None:
    lic, mix = f"lic-otel-{uuid.uuid4().hex[:6]}", Mix(openai=40, anthropic=10, failed=5)
    port = free_port()
    processor = spawn(["processor"], tmp_path / "processor.log",
                      {**kafka_env, "METERSTREAM_PROCESSOR_WEB_PORT": str(port),
                       "METERSTREAM_PROCESSOR_DATA_DIR": str(tmp_path / "processor")})
    try:
        wait_http(f"http://127.0.0.1:{port}/totals/", 120, processor)
        spans = make_spans(lic, mix)
        with Meter(producer_settings(kafka_env, tmp_path, "spool-a"), source="otlp") as meter:
            receiver = OtlpReceiver(meter, OtlpSettings(otlp_port=0))
            server, _ = receiver.start()
            url = f"http://127.0.0.1:{server.server_address[1]}/v1/traces"
            exporter = OTLPSpanExporter(endpoint=url)
            assert exporter.export(spans) == SpanExportResult.SUCCESS
            assert exporter.export(spans) == SpanExportResult.SUCCESS  # the retry of an export whose answer was lost
            status, body = post(url, b"\x0a\xff\xff not protobuf", "application/x-protobuf")
            assert status == 400 and b"not a protobuf ExportTraceServiceRequest" in body
            status, body = post(url, b"{", "application/json")
            assert status == 400 and b"body is not JSON" in body
            meter.flush()
            server.shutdown()
        assert receiver.stats.repeated_spans == mix.recorded and receiver.stats.bad_requests == 2
        wait_for(lambda: count(clickhouse, lic)[0] >= mix.events(), 90, what="OTel events in ClickHouse")
        totals = wait_for(lambda: (get_json(f"http://127.0.0.1:{port}/totals/").get(lic) or {}).get("events")
                          == mix.events() and get_json(f"http://127.0.0.1:{port}/totals/")[lic], 60,
                          what="processor totals")
        assert totals["events"] == mix.events()  # counted once in quota state: no repeat, no gap
        replay_after_restart(kafka_env, tmp_path, spans)
        check_exact(clickhouse, lic, mix)
    finally:
        terminate(processor)


def replay_after_restart(kafka_env: dict[str, str], tmp_path: Path, spans: list[Any]) -> None:
    """A receiver restarted between an export and its retry has no memory of it: the sink drops the copies."""
    with Meter(producer_settings(kafka_env, tmp_path, "spool-b"), source="otlp") as meter:
        server, _ = OtlpReceiver(meter, OtlpSettings(otlp_port=0)).start()
        OTLPSpanExporter(endpoint=f"http://127.0.0.1:{server.server_address[1]}/v1/traces").export(spans)
        meter.flush()
        server.shutdown()


def check_exact(clickhouse: Any, lic: str, mix: Mix) -> None:
    import time
    time.sleep(1.5)  # room for any second copy to land
    assert count(clickhouse, lic) == (mix.events(), mix.events())
    rows = clickhouse.query("SELECT provider, metric, status, sum(quantity), uniqExact(trace_id) FROM usage_events "
                            "WHERE license_id = {l:String} GROUP BY ALL ORDER BY ALL", parameters={"l": lic})
    assert [tuple(r) for r in rows.result_rows] == [
        ("anthropic", "cache_creation_input_tokens", "ok", Decimal(50 * mix.anthropic), mix.anthropic),
        ("anthropic", "cached_input_tokens", "ok", Decimal(300 * mix.anthropic), mix.anthropic),
        ("anthropic", "input_tokens", "ok", Decimal(400 * mix.anthropic), mix.anthropic),
        ("anthropic", "output_tokens", "ok", Decimal(42 * mix.anthropic), mix.anthropic),
        ("openai", "cached_input_tokens", "ok", Decimal(100 * mix.openai), mix.openai),
        ("openai", "inferences", "error", Decimal(mix.failed), mix.failed),
        ("openai", "input_tokens", "ok", Decimal(120 * mix.openai), mix.openai),
        ("openai", "output_tokens", "ok", Decimal(30 * mix.openai), mix.openai),
        ("openai", "reasoning_tokens", "ok", Decimal(10 * mix.openai), mix.openai),
    ]
    (sources,), = clickhouse.query("SELECT groupUniqArray(source) FROM usage_events WHERE license_id = {l:String}",
                                   parameters={"l": lic}).result_rows
    assert sources == ["otlp"]


def test_sources_normalised_priced_across_providers_and_double_path_found(kafka_env, topics, clickhouse, sink,
                                                                        tmp_path: Path) -> None:
    load_catalog(clickhouse, SAMPLE)
    lic, api = f"lic-norm-{uuid.uuid4().hex[:6]}", FakeLlmApi()
    trace = uuid.uuid4().hex
    try:
        with Meter(producer_settings(kafka_env, tmp_path, "spool"), team=lic) as meter:
            oa = meter.instrument(openai.OpenAI(base_url=f"{api.url}/v1", api_key="k", max_retries=0), lic,
                                  trace_id=trace)
            an = meter.instrument(anthropic.Anthropic(base_url=api.url, api_key="k", max_retries=0), lic)
            oa.chat.completions.create(model="gpt-4o", messages=[])
            an.messages.create(model="claude-sonnet-4-5", max_tokens=10, messages=[])
            # The same OpenAI call also metered by an OTel instrumentation: a second path.
            otel = OtlpReceiver(meter, OtlpSettings(otlp_port=0))
            from tests.producers.otlp.genai_spans import OPENAI_CHAT
            from tests.producers.otlp.test_receiver import _json_export, _json_span
            span = {**_json_span("00f067aa0ba902b7", **OPENAI_CHAT), "traceId": trace}
            assert otel.handle(_json_export([span], {"meterstream.license_id": lic, "meterstream.team": lic}),
                               "application/json").status == 200
            meter.flush()
    finally:
        api.stop()
    wait_for(lambda: count(clickhouse, lic)[0] >= 12, 90, what="events in ClickHouse")
    params = {"start": "2000-01-01 00:00:00", "end": "2199-01-01 00:00:00"}
    _, spend = run(clickhouse, text("spend_by_provider_model"), params)
    spend = [r for r in spend if r[2] == lic]  # this test's team
    by = {(r[0], r[1], r[3]): r for r in spend}
    # gpt-4o: 120 x 2.5/M + 100 x (1.25 - 2.5)/M + 30 x 10/M + 10 x 0 = 0.000475 per path
    assert by[("openai", "gpt-4o", "openai-sdk")][7] == by[("openai", "gpt-4o", "otlp")][7] == Decimal("0.000475")
    # claude-sonnet-4-5: 362 x 3/M + 300 x (0.3 - 3)/M + 50 x (3.75 - 3)/M + 42 x 15/M = 0.0009435, which is
    # Anthropic's own bill: 12 uncached x 3/M + 300 read x 0.3/M + 50 written x 3.75/M + 42 out x 15/M.
    assert by[("anthropic", "claude-sonnet-4-5", "anthropic-sdk")][7] == Decimal("0.0009435")
    assert sorted(by) == [("anthropic", "claude-sonnet-4-5", "anthropic-sdk"), ("openai", "gpt-4o", "openai-sdk"),
                          ("openai", "gpt-4o", "otlp")]
    assert all(r[8] == 0 for r in spend)  # nothing unpriced
    _, twice = run(clickhouse, text("usage_seen_twice"), params)
    mine = [r for r in twice if r[1] == lic]
    assert sorted(r[3] for r in mine) == ["cached_input_tokens", "input_tokens", "output_tokens", "reasoning_tokens"]
    assert all(r[5] == ["openai-sdk", "otlp"] and r[0] == trace for r in mine)
    assert sum(r[8] for r in mine) == Decimal("0.000475")


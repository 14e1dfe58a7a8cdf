"""The OTLP receiver without a broker: decoding both encodings, span -> events, partial success, clear 400s.

The meter is a real Meter with no broker (its validation runs), wrapped to see
what was recorded. tests/e2e/test_ingestion.py runs the same receiver with the
real OTLP exporter through Kafka to ClickHouse.
"""

from __future__ import annotations

import gzip
import json
from typing import Any, Callable

import pytest

from meterstream.producers import Meter
from meterstream.producers.otlp.attribute_map import AttributeMap
from meterstream.producers.otlp.receiver import JSON, PROTOBUF, OtlpReceiver
from meterstream.producers.otlp.settings import OtlpSettings

pytest.importorskip("opentelemetry.sdk")
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans  # noqa: E402
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse  # noqa: E402

from tests.producers.instrument.test_clients import Recorded  # noqa: E402
from tests.producers.otlp.genai_spans import Mix, make_spans  # noqa: E402


@pytest.fixture
def rec(offline_meter: Callable[..., Meter]) -> Recorded:
    return Recorded(offline_meter())


def receiver(rec: Recorded, **settings: Any) -> OtlpReceiver:
    return OtlpReceiver(rec, OtlpSettings(**settings))  # type: ignore[arg-type]


def test_protobuf_export_becomes_events_with_partial_success(rec: Recorded) -> None:
    mix = Mix()
    body = encode_spans(make_spans("lic-1", mix)).SerializeToString()
    reply = receiver(rec).handle(body, PROTOBUF)
    assert reply.status == 200 and reply.content_type == PROTOBUF
    answer = ExportTraceServiceResponse.FromString(reply.body)
    assert answer.partial_success.rejected_spans == mix.no_model
    assert "no gen_ai.request.model or gen_ai.response.model" in answer.partial_success.error_message
    assert len(rec.calls) == mix.events()
    chat = [c for c in rec.calls if c["model"] == "gpt-4o" and c["status"] == "ok"]
    assert {c["metric"]: c["quantity"] for c in chat} == {"input_tokens": 120, "output_tokens": 30,
                                                          "cached_input_tokens": 100, "reasoning_tokens": 10}
    c = chat[0]
    assert (c["license_id"], c["team"], c["app"], c["provider"], c["model_version"], c["source"], c["feature"]) == \
        ("lic-1", "support", "support-bot", "openai", "gpt-4o-2024-08-06", "otlp", "chat")
    assert len(c["trace_id"]) == 32 and c["latency_us"] >= 0 and c["event_id"]


def test_deprecated_names_and_errors_are_read(rec: Recorded) -> None:
    receiver(rec).handle(encode_spans(make_spans("lic-1", Mix(openai=0, agent=0, plain=0, no_model=0)))
                         .SerializeToString(), PROTOBUF)
    old = {c["metric"]: c["quantity"] for c in rec.calls if c["provider"] == "anthropic"}
    assert old == {"input_tokens": 400, "output_tokens": 42, "cached_input_tokens": 300,
                   "cache_creation_input_tokens": 50}
    failed = [c for c in rec.calls if c["status"] == "error"]
    assert [(c["metric"], c["quantity"]) for c in failed] == [("inferences", 1)] * 2


def test_a_retried_export_is_recorded_once_with_the_same_ids(rec: Recorded) -> None:
    r = receiver(rec)
    body = encode_spans(make_spans("lic-1", Mix())).SerializeToString()
    r.handle(body, PROTOBUF)
    first = sorted(c["event_id"] for c in rec.calls)
    r.handle(gzip.compress(body), PROTOBUF, "gzip")
    assert sorted(c["event_id"] for c in rec.calls) == first
    assert r.stats.repeated_spans == Mix().recorded
    again = receiver(rec)  # a restarted receiver has no memory: same ids, which the sink drops
    again.handle(body, PROTOBUF)
    assert sorted(c["event_id"] for c in rec.calls[len(first):]) == first


def _json_export(spans: list[dict[str, Any]], resource: dict[str, str]) -> bytes:
    attrs = [{"key": k, "value": {"stringValue": v}} for k, v in resource.items()]
    return json.dumps({"resourceSpans": [{"resource": {"attributes": attrs},
                                          "scopeSpans": [{"scope": {"name": "x"}, "spans": spans}]}]}).encode()


def _json_span(span_id: str, **attrs: Any) -> dict[str, Any]:
    def value(v: Any) -> dict[str, Any]:
        return {"intValue": str(v)} if isinstance(v, int) else {"stringValue": v}
    return {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": span_id, "name": "chat",
            "startTimeUnixNano": "1764547200000000000", "endTimeUnixNano": "1764547201500000000",
            "attributes": [{"key": k, "value": value(v)} for k, v in attrs.items()]}


def test_json_export_and_mapping_file(rec: Recorded, tmp_path: Any) -> None:
    mapping = tmp_path / "map.json"
    mapping.write_text(json.dumps({"license_id": ["tenant.id"], "use_case": ["app.use_case"]}))
    r = OtlpReceiver(rec, OtlpSettings(otlp_mapping_file=mapping))  # type: ignore[arg-type]
    good = _json_span("eee19b7ec3c1b174", **{"gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 7,
                                            "app.use_case": "uc-7"})
    no_license = _json_span("eee19b7ec3c1b175", **{"gen_ai.request.model": "gpt-4o", "meterstream.license_id": "x"})
    reply = r.handle(_json_export([good], {"tenant.id": "lic-j"}) , JSON)
    assert (reply.status, json.loads(reply.body)) == (200, {})
    reply = r.handle(_json_export([no_license], {}), "application/json; charset=utf-8")
    answer = json.loads(reply.body)["partialSuccess"]
    assert answer["rejectedSpans"] == "1" and "no license" in answer["errorMessage"]
    (c,) = rec.calls
    assert (c["license_id"], c["use_case"], c["quantity"], c["latency_us"], c["event_time_us"]) == \
        ("lic-j", "uc-7", 7, 1_500_000, 1_764_547_201_500_000)


def test_default_license_and_bad_token_count(rec: Recorded) -> None:
    r = receiver(rec, otlp_default_license="lic-default")
    spans = [_json_span("0000000000000001", **{"gen_ai.request.model": "m", "gen_ai.usage.input_tokens": 3}),
             _json_span("0000000000000002", **{"gen_ai.request.model": "m", "gen_ai.usage.input_tokens": "many"})]
    answer = json.loads(r.handle(_json_export(spans, {}), JSON).body)["partialSuccess"]
    assert answer["rejectedSpans"] == "1" and "'many' is not a non-negative integer" in answer["errorMessage"]
    assert [c["license_id"] for c in rec.calls] == ["lic-default"]


@pytest.mark.parametrize("body,content_type,encoding,message", [
    (b"\x0a\xff\xff garbage", PROTOBUF, "", "not a protobuf ExportTraceServiceRequest"),
    (b"{not json", JSON, "", "body is not JSON"),
    (b'{"resourceSpans": {}}', JSON, "", ".resourceSpans must be a list"),
    (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "soon"}]}]}]}', JSON, "",
     "startTimeUnixNano: 'soon' is not an integer"),
    # Wrong shapes and out-of-range numbers deeper in the document are 400s too, not a crashed handler.
    (b'{"resourceSpans": [{"resource": "svc", "scopeSpans": []}]}', JSON, "", "resource must be an object"),
    (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"attributes": [{"key": "k", "value": '
     b'{"kvlistValue": []}}]}]}]}]}', JSON, "", "values must be a list"),
    (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": 1e400}]}]}]}', JSON, "",
     "startTimeUnixNano: inf is not an integer"),
    (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"attributes": [{"key": "k", "value": '
     b'{"intValue": 1e400}}]}]}]}]}', JSON, "", "is not a valid intValue"),
    (b"plain", PROTOBUF, "gzip", "not valid gzip"),
    (b"x", PROTOBUF, "br", "unsupported Content-Encoding"),
])
def test_malformed_payload_is_a_clear_400_and_records_nothing(rec: Recorded, body: bytes, content_type: str,
                                                              encoding: str, message: str) -> None:
    reply = receiver(rec).handle(body, content_type, encoding)
    assert reply.status == 400 and message in reply.body.decode(errors="replace")
    if content_type == JSON:
        assert json.loads(reply.body)["code"] == 3
    assert rec.calls == []


def test_wrong_content_type_is_415(rec: Recorded) -> None:
    assert receiver(rec).handle(b"{}", "text/plain").status == 415


def test_attribute_map_file_errors_are_config_errors(tmp_path: Any) -> None:
    from meterstream.errors import ConfigError
    bad = tmp_path / "map.json"
    bad.write_text('{"licence": ["x"]}')
    with pytest.raises(ConfigError, match="licence"):
        AttributeMap.load(bad)


def test_event_ids_are_uuid5_of_trace_span_and_metric() -> None:
    import uuid

    from meterstream.producers.genai_usage import EVENT_ID_NAMESPACE, deterministic_event_id
    parts = ("5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174", "output_tokens")
    assert deterministic_event_id(*parts) == str(uuid.uuid5(EVENT_ID_NAMESPACE, "/".join(parts)))


def test_a_content_length_that_is_not_ascii_digits_gets_411_not_a_dropped_connection(rec: Recorded) -> None:
    """'²' passes str.isdigit() but not int(): the handler must still answer."""
    import socket
    import threading

    server = receiver(rec, otlp_port=0).server()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with socket.create_connection(server.server_address[:2], timeout=10) as conn:
            conn.sendall("POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
                         "Content-Length: \u00b2\r\n\r\n".encode("latin-1"))
            assert conn.recv(64).startswith(b"HTTP/1.1 411")
    finally:
        server.shutdown()
        server.server_close()

"""Decoding an OTLP/HTTP trace export (protobuf or JSON) into flat spans.

Both encodings become the same :class:`Span`: hex trace and span ids, times in
nanoseconds, the error flag, and the span's and its resource's attributes as
plain Python values. Anything that is not an ``ExportTraceServiceRequest`` (bad
protobuf, bad JSON, a wrong shape) raises :class:`PayloadError` with the reason,
before any span is used, so a malformed request records nothing.

OTLP/JSON differs from protobuf's canonical JSON: ids are hex, not base64;
64-bit integers may be strings; keys are lowerCamelCase (unknown keys ignored).
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from typing import Any

from .errors import PayloadError

STATUS_ERROR = 2  # Status.StatusCode.STATUS_CODE_ERROR


@dataclass(slots=True)
class Span:
    """One span, as much of it as usage needs."""

    trace_id: str  # 32 lowercase hex digits ('' when absent)
    span_id: str  # 16 lowercase hex digits
    start_ns: int
    end_ns: int
    error: bool
    attributes: dict[str, Any]
    resource: dict[str, Any]


def decompress(body: bytes, encoding: str, limit: int) -> bytes:
    """The body under its Content-Encoding (``gzip``, ``deflate`` or none), at most ``limit`` bytes unpacked."""
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "deflate"):
        raise PayloadError(f"unsupported Content-Encoding {encoding!r} (use gzip, deflate or none)")
    unpacker = zlib.decompressobj(wbits=31 if encoding == "gzip" else 15)
    try:
        out = unpacker.decompress(body, limit + 1)
    except zlib.error as exc:
        raise PayloadError(f"body is not valid {encoding}: {exc}") from None
    if len(out) > limit:
        raise PayloadError(f"body unpacks to more than {limit} bytes")
    if not unpacker.eof:
        raise PayloadError(f"body is truncated {encoding}")
    return out


# -- protobuf ------------------------------------------------------------------

def _pb_value(v: Any) -> Any:
    which = v.WhichOneof("value")
    if which == "array_value":
        return [_pb_value(x) for x in v.array_value.values]
    if which == "kvlist_value":
        return {kv.key: _pb_value(kv.value) for kv in v.kvlist_value.values}
    return None if which is None else getattr(v, which)


def _pb_attrs(kvs: Any) -> dict[str, Any]:
    return {kv.key: _pb_value(kv.value) for kv in kvs}


def decode_protobuf(body: bytes) -> list[Span]:
    """Spans of a binary ``ExportTraceServiceRequest``."""
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except DecodeError as exc:
        raise PayloadError(f"body is not a protobuf ExportTraceServiceRequest: {exc}") from None
    spans = []
    for rs in request.resource_spans:
        resource = _pb_attrs(rs.resource.attributes)
        for ss in rs.scope_spans:
            for s in ss.spans:
                spans.append(Span(s.trace_id.hex(), s.span_id.hex(), s.start_time_unix_nano, s.end_time_unix_nano,
                                  s.status.code == STATUS_ERROR, _pb_attrs(s.attributes), resource))
    return spans


# -- JSON ----------------------------------------------------------------------

_SCALARS = {"stringValue": str, "boolValue": bool, "intValue": int, "doubleValue": float}


def _json_value(v: Any, where: str) -> Any:
    if not isinstance(v, dict):
        raise PayloadError(f"{where}: an AnyValue must be an object")
    for key, convert in _SCALARS.items():
        if key in v:
            try:
                return convert(v[key])
            except (TypeError, ValueError, OverflowError):
                raise PayloadError(f"{where}.{key}: {v[key]!r} is not a valid {key}") from None
    if "arrayValue" in v:
        return [_json_value(x, f"{where}.arrayValue") for x in _list(v["arrayValue"], "values", where)]
    if "kvlistValue" in v:
        return _json_attrs(_list(v["kvlistValue"], "values", where), f"{where}.kvlistValue")
    return v.get("bytesValue")


def _json_attrs(kvs: Any, where: str) -> dict[str, Any]:
    if not isinstance(kvs, list):
        raise PayloadError(f"{where}.attributes must be a list")
    out = {}
    for i, kv in enumerate(kvs):
        if not isinstance(kv, dict) or not isinstance(kv.get("key"), str):
            raise PayloadError(f"{where}.attributes[{i}] must be an object with a string key")
        out[kv["key"]] = _json_value(kv.get("value", {}), f"{where}.attributes[{i}].value")
    return out


def _list(obj: Any, key: str, where: str) -> list[Any]:
    value = obj.get(key, []) if isinstance(obj, dict) else None
    if not isinstance(value, list):
        raise PayloadError(f"{where}.{key} must be a list")
    return value


def _int(value: Any, where: str) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError, OverflowError):
        raise PayloadError(f"{where}: {value!r} is not an integer") from None


def _json_span(s: Any, resource: dict[str, Any], where: str) -> Span:
    if not isinstance(s, dict):
        raise PayloadError(f"{where} must be an object")
    status = s.get("status") or {}
    code = status.get("code", 0) if isinstance(status, dict) else 0
    return Span(str(s.get("traceId", "")).lower(), str(s.get("spanId", "")).lower(),
                _int(s.get("startTimeUnixNano"), f"{where}.startTimeUnixNano"),
                _int(s.get("endTimeUnixNano"), f"{where}.endTimeUnixNano"),
                code in (STATUS_ERROR, "STATUS_CODE_ERROR"), _json_attrs(s.get("attributes", []), where), resource)


def decode_json(body: bytes) -> list[Span]:
    """Spans of an OTLP/JSON ``ExportTraceServiceRequest``."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PayloadError(f"body is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise PayloadError("body must be a JSON object with resourceSpans")
    spans = []
    for i, rs in enumerate(_list(doc, "resourceSpans", "")):
        where = f"resourceSpans[{i}]"
        res = rs.get("resource") if isinstance(rs, dict) else None
        if res is not None and not isinstance(res, dict):
            raise PayloadError(f"{where}.resource must be an object")
        resource = _json_attrs((res or {}).get("attributes", []), f"{where}.resource")
        for j, ss in enumerate(_list(rs, "scopeSpans", where)):
            for k, s in enumerate(_list(ss, "spans", f"{where}.scopeSpans[{j}]")):
                spans.append(_json_span(s, resource, f"{where}.scopeSpans[{j}].spans[{k}]"))
    return spans

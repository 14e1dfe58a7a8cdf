"""The OTLP/HTTP trace receiver: ``POST /v1/traces`` -> usage events through the producer library.

Answers as the OTLP/HTTP specification says: 200 with an
``ExportTraceServiceResponse`` in the request's encoding, whose
``partial_success`` counts the GenAI spans it could not use and says why (no
license, no model, a bad token count...); 400 with a ``google.rpc.Status`` and
the reason for a body that is not a trace export (nothing of it is recorded);
413, 415, 404/405 for the obvious; 503 when the meter's spool is full (OTLP
clients retry it). Spans that are not GenAI model calls are accepted and
ignored. The server is the standard library's threading HTTP server: no
dependency beyond ``opentelemetry-proto`` for the protobuf messages.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ..errors import InvalidEventError, SpoolFullError
from ..genai_usage import record_usage
from ..meter import Meter
from .attribute_map import AttributeMap
from .dedup import RecentSpans
from .errors import PayloadError
from .payload import Span, decode_json, decode_protobuf, decompress
from .settings import OtlpSettings
from .span_events import Rejected, SpanUsage, span_usage

log = logging.getLogger(__name__)
PROTOBUF, JSON = "application/x-protobuf", "application/json"
INVALID_ARGUMENT, UNAVAILABLE = 3, 14  # google.rpc.Code
MAX_REASONS = 5  # distinct rejection reasons quoted in a partial success


@dataclass
class Reply:
    status: int
    content_type: str
    body: bytes


@dataclass
class ReceiverStats:
    """Counters since start (read them for monitoring; not locked, so approximate while requests run)."""

    requests: int = 0
    bad_requests: int = 0
    spans: int = 0
    recorded_spans: int = 0
    repeated_spans: int = 0
    rejected_spans: int = 0
    events: int = 0


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def status_reply(http_status: int, code: int, message: str, content_type: str) -> Reply:
    """An error answer: ``google.rpc.Status`` {code, message} in the request's encoding."""
    if content_type == JSON:
        return Reply(http_status, JSON, json.dumps({"code": code, "message": message}).encode())
    text = message.encode()
    return Reply(http_status, PROTOBUF, b"\x08" + _varint(code) + b"\x12" + _varint(len(text)) + text)


def success_reply(rejected: int, message: str, content_type: str) -> Reply:
    """``ExportTraceServiceResponse``, with ``partial_success`` when spans were rejected."""
    if content_type == JSON:
        body = {"partialSuccess": {"rejectedSpans": str(rejected), "errorMessage": message}} if rejected else {}
        return Reply(200, JSON, json.dumps(body).encode())
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

    response = ExportTraceServiceResponse()
    if rejected:
        response.partial_success.rejected_spans = rejected
        response.partial_success.error_message = message
    return Reply(200, PROTOBUF, response.SerializeToString())


class OtlpReceiver:
    """Turns OTLP trace exports into usage events recorded by ``meter`` (source ``otlp``)."""

    def __init__(self, meter: Meter, settings: OtlpSettings | None = None, mapping: AttributeMap | None = None):
        self.meter = meter
        self.settings = s = settings or OtlpSettings()
        self.mapping = mapping or AttributeMap.load(s.otlp_mapping_file)
        self.recent = RecentSpans(s.otlp_dedup_spans)
        self.stats = ReceiverStats()

    def handle(self, body: bytes, content_type: str, encoding: str = "") -> Reply:
        """Answer one ``POST /v1/traces``."""
        self.stats.requests += 1
        kind = JSON if content_type.split(";")[0].strip().lower() == JSON else PROTOBUF
        if content_type.split(";")[0].strip().lower() not in (JSON, PROTOBUF):
            return status_reply(415, INVALID_ARGUMENT, f"Content-Type must be {PROTOBUF} or {JSON}, "
                                                       f"got {content_type!r}", PROTOBUF)
        try:
            raw = decompress(body, encoding.strip().lower(), self.settings.otlp_max_body_bytes)
            spans = decode_json(raw) if kind == JSON else decode_protobuf(raw)
        except PayloadError as exc:
            self.stats.bad_requests += 1
            return status_reply(400, INVALID_ARGUMENT, str(exc), kind)
        try:
            rejected, reasons = self.export(spans)
        except SpoolFullError as exc:
            return status_reply(503, UNAVAILABLE, str(exc), kind)
        return success_reply(rejected, "; ".join(reasons[:MAX_REASONS]), kind)

    def export(self, spans: list[Span]) -> tuple[int, list[str]]:
        """Record the usable GenAI spans once each; return the rejected count and distinct reasons."""
        self.stats.spans += len(spans)
        usable: list[SpanUsage] = []
        reasons: dict[str, None] = {}
        rejected = 0
        for span in spans:
            try:
                found = span_usage(span, self.mapping, self.settings.otlp_default_license)
            except Rejected as exc:
                rejected += 1
                reasons[str(exc)] = None
                continue
            if found is not None:
                usable.append(found)
        rejected += self._record(usable, reasons)
        self.stats.rejected_spans += rejected
        return rejected, list(reasons)

    def _record(self, usable: list[SpanUsage], reasons: dict[str, None]) -> int:
        """Record spans not seen within the dedup window; return how many the meter refused."""
        refused = 0
        with self.recent.lock:
            for u in usable:
                key = u.trace_id + u.span_id
                if self.recent.seen(key):
                    self.stats.repeated_spans += 1
                    continue
                try:
                    ids = record_usage(self.meter, u.license_id, u.usage, event_id=u.event_id, source="otlp",
                                       **u.fields)
                except InvalidEventError as exc:
                    refused += 1
                    reasons[f"span {u.span_id}: {exc}"] = None
                    continue
                self.recent.add((key,))
                self.stats.recorded_spans += 1
                self.stats.events += len(ids)
        return refused

    # -- HTTP ----------------------------------------------------------------

    def server(self) -> ThreadingHTTPServer:
        """A threading HTTP server bound to the configured address (call ``serve_forever``)."""
        receiver = self

        class Handler(_Handler):
            pass

        Handler.receiver = receiver
        server = ThreadingHTTPServer((self.settings.otlp_host, self.settings.otlp_port), Handler)
        server.daemon_threads = True
        return server

    def start(self) -> tuple[ThreadingHTTPServer, threading.Thread]:
        """Serve on a background thread; returns the server (``server_address`` has the port) and thread."""
        server = self.server()
        thread = threading.Thread(target=server.serve_forever, name="otlp-receiver", daemon=True)
        thread.start()
        return server, thread


class _Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive (OTLP exporters reuse connections)."""

    protocol_version = "HTTP/1.1"
    receiver: OtlpReceiver

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        if self.path.split("?")[0] != "/v1/traces":
            return self._send(status_reply(404, 5, f"no such path {self.path}; OTLP traces go to /v1/traces",
                                           PROTOBUF))
        length = self.headers.get("Content-Length")
        if length is None or not (length.isascii() and length.isdigit()):
            return self._send(status_reply(411, INVALID_ARGUMENT, "Content-Length required", PROTOBUF))
        if int(length) > self.receiver.settings.otlp_max_body_bytes:
            self.close_connection = True
            return self._send(status_reply(413, INVALID_ARGUMENT, f"body of {length} bytes is over the limit "
                              f"of {self.receiver.settings.otlp_max_body_bytes}", PROTOBUF))
        body = self.rfile.read(int(length))
        self._send(self.receiver.handle(body, self.headers.get("Content-Type", ""),
                                        self.headers.get("Content-Encoding", "")))

    def do_GET(self) -> None:  # noqa: N802
        self._send(status_reply(405, INVALID_ARGUMENT, "use POST /v1/traces", PROTOBUF))

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        if reply.status == 503:
            self.send_header("Retry-After", "5")
        self.end_headers()
        self.wfile.write(reply.body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
        log.debug("%s " + format, self.address_string(), *args)

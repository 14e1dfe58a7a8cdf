"""One generative-AI call's usage, normalised, and the usage events it becomes.

Every path that sees a model call from outside our own ``Meter.record`` (the
OTLP receiver, the OpenAI and Anthropic client hooks, the LiteLLM callback)
fills a :class:`CallUsage` the same way and records it with :func:`record_usage`,
so the events are the same whatever the source: one event per non-zero token
metric (OpenTelemetry's counting: cached, cache-creation and reasoning tokens
are *inside* input and output tokens), or a single ``inferences`` event when the
call reported no tokens (a failed call, an API without usage), so every call is
visible with its status and latency.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from .meter import Meter

# Namespace of the deterministic event ids (UUID5) of usage seen from outside the library.
EVENT_ID_NAMESPACE = uuid.UUID("6f1d3c1e-5b0a-4c1f-9d0e-6d657465722e")
TOKEN_METRICS = ("input_tokens", "output_tokens", "cached_input_tokens", "cache_creation_input_tokens",
                 "reasoning_tokens")


@dataclass
class CallUsage:
    """What one model call used, in OpenTelemetry's terms (cached/reasoning counted inside input/output)."""

    model: str
    provider: str = ""
    model_version: str = ""
    operation: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    reasoning_tokens: int = 0
    status: str = "ok"
    latency_us: int | None = None

    def quantities(self) -> list[tuple[str, int]]:
        """(metric, quantity) of the events this call becomes."""
        found = [(m, int(getattr(self, m))) for m in TOKEN_METRICS if getattr(self, m)]
        return found or [("inferences", 1)]


_NS = EVENT_ID_NAMESPACE.bytes


def deterministic_event_id(*parts: str) -> str:
    """``str(uuid.uuid5(EVENT_ID_NAMESPACE, "/".join(parts)))``: the same call seen again (an exporter's retry)
    gets the same id. Written out with hashlib: half the cost of building a UUID object, on the receiver's path."""
    h = bytearray(hashlib.sha1(_NS + "/".join(parts).encode()).digest()[:16])
    h[6] = (h[6] & 0x0F) | 0x50
    h[8] = (h[8] & 0x3F) | 0x80
    x = h.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


def record_usage(meter: "Meter", license_id: str, usage: CallUsage, *,
                 event_id: Callable[[str], str | None] = lambda metric: None, **fields: Any) -> list[str]:
    """Record ``usage`` through ``meter``; ``fields`` are passed to every ``record()`` call.

    ``event_id(metric)`` gives a fixed id per metric (None: the meter draws one).
    ``feature`` defaults to the operation name (``chat``, ``embeddings``...). Returns the event ids.
    """
    fields.setdefault("feature", usage.operation or None)
    common = {"model": usage.model, "model_version": usage.model_version, "provider": usage.provider,
              "status": usage.status, "latency_us": usage.latency_us, **fields}
    return [meter.record(license_id, metric, quantity, event_id=event_id(metric), **common)
            for metric, quantity in usage.quantities()]


def current_trace_id() -> str | None:
    """The trace id of the active OpenTelemetry span (hex), when opentelemetry-api is installed and one is
    recording: events recorded by a client hook then share the trace id an OTel exporter would send, which is
    what the double-path query matches on."""
    try:
        from opentelemetry import trace
    except ImportError:
        return None
    ctx = trace.get_current_span().get_span_context()
    return f"{ctx.trace_id:032x}" if ctx.is_valid else None

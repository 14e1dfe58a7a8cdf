"""GenAI span -> usage events: OpenTelemetry's GenAI semantic conventions read into a CallUsage.

Attribute names follow the GenAI semantic conventions as of semantic-conventions
v1.41 (``gen_ai.provider.name``, ``gen_ai.usage.cache_read.input_tokens``,
``gen_ai.usage.reasoning.output_tokens``...); the names older instrumentations
still emit (``gen_ai.system``, ``gen_ai.usage.prompt_tokens``...) are read when the
current one is absent. Each metric's event id is a UUID5 of (trace id, span id,
metric), so a span exported twice is the same events twice, which the receiver
and the sink drop.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..genai_usage import CallUsage, deterministic_event_id
from .attribute_map import AttributeMap
from .payload import Span

OPERATION = "gen_ai.operation.name"
PROVIDER = ("gen_ai.provider.name", "gen_ai.system")
REQUEST_MODEL, RESPONSE_MODEL = "gen_ai.request.model", "gen_ai.response.model"
# CallUsage field -> attribute names, current first, then deprecated or pre-standard aliases.
USAGE_ATTRIBUTES = {
    "input_tokens": ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"),
    "output_tokens": ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"),
    "cached_input_tokens": ("gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens"),
    "cache_creation_input_tokens": ("gen_ai.usage.cache_creation.input_tokens",
                                    "gen_ai.usage.cache_creation_input_tokens"),
    "reasoning_tokens": ("gen_ai.usage.reasoning.output_tokens", "gen_ai.usage.reasoning_tokens"),
}
_TEXT_FIELDS = ("team", "app", "environment", "purpose", "feature", "region", "hardware_id", "user_id",
                "use_case", "sensitivity", "stage")
_TRACE_ID, _SPAN_ID = re.compile(r"^[0-9a-f]{32}$"), re.compile(r"^[0-9a-f]{16}$")


class Rejected(Exception):
    """A GenAI span that cannot become usage; the message says why (reported as OTLP partial success)."""


@dataclass
class SpanUsage:
    """What one GenAI span records: its license, its usage, the other event fields and its id parts."""

    license_id: str
    usage: CallUsage
    fields: dict[str, Any] = field(default_factory=dict)
    trace_id: str = ""
    span_id: str = ""

    def event_id(self, metric: str) -> str:
        return deterministic_event_id(self.trace_id, self.span_id, metric)


def is_genai(attributes: dict[str, Any]) -> bool:
    """True if the span is about a GenAI operation (it has a ``gen_ai.*`` attribute)."""
    return any(name.startswith("gen_ai.") for name in attributes)


def _first(attributes: dict[str, Any], names: tuple[str, ...]) -> Any:
    for name in names:
        if name in attributes:
            return attributes[name]
    return None


def _tokens(attributes: dict[str, Any], names: tuple[str, ...]) -> int:
    value = _first(attributes, names)
    if value is None:
        return 0
    if type(value) is not int or value < 0:
        raise Rejected(f"{names[0]}: {value!r} is not a non-negative integer")
    return value


def _text(value: Any) -> str | None:
    return None if value is None else value if isinstance(value, str) else str(value)


def _categories(value: Any) -> list[str] | None:
    if value is None:
        return None
    items = value if isinstance(value, list) else str(value).split(",")
    return [str(v).strip() for v in items if str(v).strip()]


def call_usage(span: Span) -> CallUsage:
    """The span's model, provider, tokens, status and duration (raises Rejected)."""
    a = span.attributes
    model = _text(a.get(REQUEST_MODEL)) or _text(a.get(RESPONSE_MODEL))
    if not model:
        raise Rejected(f"span {span.span_id}: no {REQUEST_MODEL} or {RESPONSE_MODEL}")
    usage = CallUsage(model=model, provider=_text(_first(a, PROVIDER)) or "",
                      model_version=_text(a.get(RESPONSE_MODEL)) or "", operation=_text(a.get(OPERATION)) or "",
                      status="error" if span.error or "error.type" in a else "ok",
                      latency_us=max(0, span.end_ns - span.start_ns) // 1000 if span.end_ns else None)
    for name, names in USAGE_ATTRIBUTES.items():
        setattr(usage, name, _tokens(a, names))
    return usage


def span_usage(span: Span, mapping: AttributeMap, default_license: str | None) -> SpanUsage | None:
    """The usage of one span; None for a span that is not a metered GenAI call; raises Rejected."""
    a, r = span.attributes, span.resource
    if not is_genai(a) or (OPERATION in a and a[OPERATION] not in mapping.operations):
        return None
    if not _TRACE_ID.match(span.trace_id) or not _SPAN_ID.match(span.span_id):
        raise Rejected(f"span {span.span_id or '?'}: invalid trace or span id")
    license_id = _text(mapping.lookup("license_id", a, r)) or default_license
    if not license_id:
        raise Rejected(f"span {span.span_id}: no license (attributes {mapping.license_id} absent and no "
                       f"default license configured)")
    fields: dict[str, Any] = {name: _text(mapping.lookup(name, a, r)) for name in _TEXT_FIELDS}
    fields = {k: v for k, v in fields.items() if v is not None}
    categories = _categories(mapping.lookup("data_categories", a, r))
    if categories is not None:
        fields["data_categories"] = categories
    fields["trace_id"] = span.trace_id
    fields["event_time_us"] = (span.end_ns or span.start_ns) // 1000
    return SpanUsage(license_id, call_usage(span), fields, span.trace_id, span.span_id)

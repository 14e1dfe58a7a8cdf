"""Spans shaped like those of an OpenTelemetry GenAI instrumentation, made with the real opentelemetry-sdk.

``make_spans`` returns finished ``ReadableSpan`` objects (collected in memory),
which a test hands to the real ``OTLPSpanExporter`` (HTTP/protobuf) itself, so it
can export the same spans twice as an exporter's retry would.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

OPENAI_CHAT = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
               "gen_ai.request.model": "gpt-4o", "gen_ai.response.model": "gpt-4o-2024-08-06",
               "gen_ai.usage.input_tokens": 120, "gen_ai.usage.output_tokens": 30,
               "gen_ai.usage.cache_read.input_tokens": 100, "gen_ai.usage.reasoning.output_tokens": 10}
# An older instrumentation: deprecated gen_ai.system and pre-standard usage names.
ANTHROPIC_OLD = {"gen_ai.operation.name": "chat", "gen_ai.system": "anthropic",
                 "gen_ai.request.model": "claude-sonnet-4-5", "gen_ai.usage.prompt_tokens": 400,
                 "gen_ai.usage.completion_tokens": 42, "gen_ai.usage.cache_read_input_tokens": 300,
                 "gen_ai.usage.cache_creation_input_tokens": 50}
FAILED = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
          "error.type": "openai.RateLimitError"}
AGENT = {"gen_ai.operation.name": "invoke_agent", "gen_ai.provider.name": "openai",
         "gen_ai.usage.input_tokens": 999, "gen_ai.usage.output_tokens": 999}
NO_MODEL = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.usage.input_tokens": 5}


@dataclass
class Mix:
    """How many spans of each kind ``make_spans`` makes."""

    openai: int = 10
    anthropic: int = 4
    failed: int = 2
    agent: int = 1
    plain: int = 3  # not GenAI at all (an HTTP handler, a DB call)
    no_model: int = 1  # GenAI but unusable: rejected with a reason

    @property
    def recorded(self) -> int:
        return self.openai + self.anthropic + self.failed

    def events(self) -> int:
        return self.openai * 4 + self.anthropic * 4 + self.failed


def make_spans(license_id: str, mix: Mix, *, team: str = "support", extra: dict[str, Any] | None = None,
               ) -> list[ReadableSpan]:
    """Finished spans of one service whose resource names the license and team."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "support-bot",
                                                        "meterstream.license_id": license_id,
                                                        "meterstream.team": team}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("genai-test")
    kinds = [("chat gpt-4o", OPENAI_CHAT, mix.openai), ("chat claude", ANTHROPIC_OLD, mix.anthropic),
             ("chat gpt-4o", FAILED, mix.failed), ("invoke_agent", AGENT, mix.agent),
             ("GET /answer", {"http.request.method": "GET"}, mix.plain), ("chat ?", NO_MODEL, mix.no_model)]
    for name, attributes, count in kinds:
        for _ in range(count):
            with tracer.start_as_current_span(name, kind=SpanKind.CLIENT,
                                              attributes={**attributes, **(extra or {})}) as span:
                if attributes is FAILED:
                    span.set_status(Status(StatusCode.ERROR, "rate limited"))
    provider.shutdown()
    return list(memory.get_finished_spans())

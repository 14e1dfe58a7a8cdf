"""Usage of the official ``openai`` client: chat completions, responses and embeddings, sync and async.

OpenAI counts as OpenTelemetry does: ``prompt_tokens`` / ``input_tokens``
include the cached ones (``*_tokens_details.cached_tokens``) and output tokens
include the reasoning ones. A streamed chat completion reports usage only in a
last chunk (with no choices) when asked with ``stream_options={"include_usage":
True}``: the hook adds that option unless the caller set ``stream_options``
itself. A streamed response reports it in its ``response.completed`` event.
"""

from __future__ import annotations

from typing import Any

from ..genai_usage import CallUsage
from .hooks import Operation

PROVIDER = "openai"


def _n(obj: Any, name: str) -> int:
    return int(getattr(obj, name, 0) or 0) if obj is not None else 0


def chat_usage(response: Any, model: str) -> CallUsage:
    """A ChatCompletion (or the usage-bearing last chunk of a stream)."""
    u = getattr(response, "usage", None)
    details, out_details = getattr(u, "prompt_tokens_details", None), getattr(u, "completion_tokens_details", None)
    return CallUsage(model=model or getattr(response, "model", ""), model_version=getattr(response, "model", "") or "",
                     input_tokens=_n(u, "prompt_tokens"), output_tokens=_n(u, "completion_tokens"),
                     cached_input_tokens=_n(details, "cached_tokens"),
                     cache_creation_input_tokens=_n(details, "cache_write_tokens"),
                     reasoning_tokens=_n(out_details, "reasoning_tokens"))


def responses_usage(response: Any, model: str) -> CallUsage:
    """A Response of the Responses API."""
    u = getattr(response, "usage", None)
    return CallUsage(model=model or getattr(response, "model", ""), model_version=getattr(response, "model", "") or "",
                     input_tokens=_n(u, "input_tokens"), output_tokens=_n(u, "output_tokens"),
                     cached_input_tokens=_n(getattr(u, "input_tokens_details", None), "cached_tokens"),
                     reasoning_tokens=_n(getattr(u, "output_tokens_details", None), "reasoning_tokens"))


def embeddings_usage(response: Any, model: str) -> CallUsage:
    u = getattr(response, "usage", None)
    return CallUsage(model=model or getattr(response, "model", ""), model_version=getattr(response, "model", "") or "",
                     input_tokens=_n(u, "prompt_tokens"))


class ChatStream:
    """Keeps the last chunk that carries usage, and the model the chunks name."""

    def __init__(self) -> None:
        self.last: Any = None
        self.model = ""

    def observe(self, chunk: Any) -> None:
        self.model = getattr(chunk, "model", "") or self.model
        if getattr(chunk, "usage", None) is not None:
            self.last = chunk

    def usage(self, model: str) -> CallUsage:
        if self.last is None:  # stream cut short, or include_usage turned off by the caller
            return CallUsage(model=model, model_version=self.model)
        return chat_usage(self.last, model)


class ResponsesStream:
    """Keeps the final response of a Responses stream (``response.completed`` and friends)."""

    def __init__(self) -> None:
        self.final: Any = None

    def observe(self, event: Any) -> None:
        response = getattr(event, "response", None)
        if response is not None and getattr(response, "usage", None) is not None:
            self.final = response

    def usage(self, model: str) -> CallUsage:
        return CallUsage(model=model) if self.final is None else responses_usage(self.final, model)


def include_usage(kwargs: dict[str, Any]) -> None:
    """Ask a chat completion stream for its usage chunk, unless the caller chose stream_options."""
    kwargs.setdefault("stream_options", {"include_usage": True})


OPERATIONS = (
    Operation("chat.completions", "create", "chat", chat_usage, ChatStream, include_usage),
    Operation("responses", "create", "chat", responses_usage, ResponsesStream),
    Operation("embeddings", "create", "embeddings", embeddings_usage),
)

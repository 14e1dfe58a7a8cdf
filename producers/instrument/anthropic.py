"""Usage of the official ``anthropic`` client: ``messages.create``, sync and async, streaming included.

Anthropic counts differently from OpenTelemetry: its ``input_tokens`` are only
the tokens neither read from nor written to the prompt cache. The hook records
OTel's counting: input = input + cache read + cache creation, with the cache
read and cache creation tokens as the contained metrics; reasoning = the
extended-thinking tokens when the API reports them (inside output tokens). A
stream reports input and cache usage in ``message_start`` and the cumulative
output in each ``message_delta``.
"""

from __future__ import annotations

from typing import Any

from ..genai_usage import CallUsage
from .hooks import Operation

PROVIDER = "anthropic"


def _n(obj: Any, name: str) -> int:
    return int(getattr(obj, name, 0) or 0) if obj is not None else 0


def _from_usage(u: Any, model: str, served: str) -> CallUsage:
    read, created = _n(u, "cache_read_input_tokens"), _n(u, "cache_creation_input_tokens")
    return CallUsage(model=model or served, model_version=served, input_tokens=_n(u, "input_tokens") + read + created,
                     output_tokens=_n(u, "output_tokens"), cached_input_tokens=read,
                     cache_creation_input_tokens=created,
                     reasoning_tokens=_n(getattr(u, "output_tokens_details", None), "thinking_tokens"))


def message_usage(message: Any, model: str) -> CallUsage:
    """A Message."""
    return _from_usage(getattr(message, "usage", None), model, getattr(message, "model", "") or "")


class MessageStream:
    """Merges the usage of ``message_start`` with the later ``message_delta`` counts."""

    FIELDS = ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens", "output_tokens")

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.thinking = 0
        self.model = ""

    def _take(self, u: Any) -> None:
        for name in self.FIELDS:
            value = getattr(u, name, None)
            if value is not None:
                self.counts[name] = int(value)
        self.thinking = _n(getattr(u, "output_tokens_details", None), "thinking_tokens") or self.thinking

    def observe(self, event: Any) -> None:
        kind = getattr(event, "type", "")
        if kind == "message_start":
            self.model = getattr(event.message, "model", "") or ""
            self._take(event.message.usage)
        elif kind == "message_delta" and getattr(event, "usage", None) is not None:
            self._take(event.usage)

    def usage(self, model: str) -> CallUsage:
        c = self.counts
        read, created = c.get("cache_read_input_tokens", 0), c.get("cache_creation_input_tokens", 0)
        return CallUsage(model=model or self.model, model_version=self.model,
                         input_tokens=c.get("input_tokens", 0) + read + created,
                         output_tokens=c.get("output_tokens", 0), cached_input_tokens=read,
                         cache_creation_input_tokens=created, reasoning_tokens=self.thinking)


OPERATIONS = (Operation("messages", "create", "chat", message_usage, MessageStream),)

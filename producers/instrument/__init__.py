"""Metering the official provider clients: ``meter.instrument(client, license_id)``.

Supported: ``openai.OpenAI`` / ``AsyncOpenAI`` (chat completions, responses,
embeddings) and ``anthropic.Anthropic`` / ``AsyncAnthropic`` (messages), sync
and async, streaming included. The client's methods are wrapped on that client
object only; nothing is imported from the SDKs, so the producer library does not
depend on them. LiteLLM has its own callback (:mod:`.litellm`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import anthropic, openai
from ..event import check_text
from .hooks import CallRecorder, patch

if TYPE_CHECKING:
    from ..meter import Meter

ADAPTERS = {"openai": openai, "anthropic": anthropic}


def instrument(meter: "Meter", client: Any, license_id: str, **fields: Any) -> Any:
    """Wrap ``client`` so every call records its usage for ``license_id``; returns the client.

    ``fields`` are any keyword arguments of ``Meter.record`` (team, app, use_case,
    user_id, stage, ...); ``source`` defaults to ``<provider>-sdk``. Raises
    TypeError for a client of another library.
    """
    check_text("license_id", license_id, required=True)
    top = type(client).__module__.split(".")[0]
    adapter = ADAPTERS.get(top)
    if adapter is None:
        raise TypeError(f"cannot instrument a {type(client).__module__}.{type(client).__name__}: "
                        f"supported clients are those of {', '.join(sorted(ADAPTERS))}")
    fields.setdefault("source", f"{adapter.PROVIDER}-sdk")
    recorder = CallRecorder(meter, license_id, adapter.PROVIDER, fields.pop("source"), fields)
    for op in adapter.OPERATIONS:
        patch(client, op, recorder)
    return client

"""The one header convention of every dead-letter record meterstream writes.

A message that cannot be used is copied, key and value untouched, to a
dead-letter topic with two headers: ``reason`` (why, in words) and ``source``
(``topic/partition/offset`` of the original). Components may add more
headers (the dispatcher adds delivery, endpoint and alert ids).
"""

from __future__ import annotations

from typing import Any

REASON = "reason"
SOURCE = "source"


def source(topic: str | None, partition: int | None, offset: int | None) -> str:
    """Where a message came from, as the ``source`` header writes it."""
    return f"{topic}/{partition}/{offset}"


def headers(reason: str, topic: str | None = None, partition: int | None = None, offset: int | None = None,
            **extra: str) -> dict[str, Any]:
    """Headers of one dead letter (``source`` only when the original came from a topic)."""
    out: dict[str, Any] = {REASON: reason.encode()}
    if topic is not None:
        out[SOURCE] = source(topic, partition, offset).encode()
    out.update({k: v.encode() for k, v in extra.items()})
    return out

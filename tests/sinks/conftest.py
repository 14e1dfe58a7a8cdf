"""Helpers of the sink tests: build usage batches and write them through the sink's real write path."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import pytest

from meterstream.schemas import BatchCodec
from meterstream.schemas.registry import USAGE_BATCH
from meterstream.sinks.usage_writer import UsageWriter


@dataclass
class Msg:
    """A consumed Kafka message as the writer sees it (value, topic, partition, offset, key)."""

    _value: bytes
    _offset: int = 0
    _partition: int = 0
    _topic: str = "test.usage"

    def value(self) -> bytes:
        return self._value

    def key(self) -> bytes | None:
        return None

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def timestamp(self) -> tuple[int, int]:
        return (0, -1)  # TIMESTAMP_NOT_AVAILABLE


def micros(t: datetime) -> int:
    return int(t.replace(tzinfo=timezone.utc).timestamp() * 1_000_000)


def batch(license_id: str, n: int, *, when: datetime, model: str = "m", version: str = "1.0.0",
          metric: str = "input_tokens", quantity: int = 1_000_000, team: str = "t", ids: list[str] | None = None,
          status: str = "ok", latency: int | None = 1000, hardware: str = "gpu-0", step_us: int = 1) -> dict[str, list[Any]]:
    """Columns of ``n`` events (quantity unscaled, x 10^6)."""
    t0 = micros(when)
    return {
        "event_id": ids or [str(uuid.uuid4()) for _ in range(n)], "event_time": [t0 + i * step_us for i in range(n)],
        "license_id": [license_id] * n, "producer_id": ["p"] * n, "sequence": list(range(n)),
        "feature": ["chat"] * n, "model": [model] * n, "model_version": [version] * n, "metric": [metric] * n,
        "quantity": [quantity] * n, "status": [status] * n, "latency_us": [latency] * n, "team": [team] * n,
        "app": ["app"] * n, "environment": ["prod"] * n, "purpose": [""] * n, "hardware_id": [hardware] * n,
        "region": ["eu"] * n, "input_hash": ["a" * 64] * n, "output_hash": [None] * n,
    }


def tagged(columns: dict[str, list[Any]], **fields: Any) -> dict[str, list[Any]]:
    """``columns`` with each v2 field in ``fields`` set to that value on every event."""
    n = len(columns["event_id"])
    return {**columns, **{name: [value] * n for name, value in fields.items()}}


def write(client: Any, *batches: dict[str, list[Any]]) -> list[str]:
    """Write batches as one flush through UsageWriter; return dead-letter reasons."""
    codec = BatchCodec()
    dead: list[str] = []
    msgs = [Msg(codec.encode(b), i) for i, b in enumerate(batches)]
    writer = UsageWriter(client, lambda m, reason: dead.append(reason))
    writer.write({codec.schema.fingerprint: (codec.schema.schema, msgs)})  # type: ignore[dict-item]
    return dead


@pytest.fixture
def tag() -> str:
    """A unique name part so tests sharing the session's ClickHouse do not see each other's rows."""
    return uuid.uuid4().hex[:8]


__all__ = ["Msg", "batch", "tagged", "write", "USAGE_BATCH"]

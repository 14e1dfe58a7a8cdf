"""Builders of usage columns and license terms for the stream-processor tests."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from meterstream.stream_processors.license.terms import LicenseTerms, grants, quota

US = 1_000_000
T0 = int(datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc).timestamp()) * US


def columns(n: int, *, start_seq: int = 0, t0: int = T0, step_us: int = US, metric: str = "input_tokens",
            quantity: int = 10 * US, producer: str = "p1", **overrides: Any) -> dict[str, list[Any]]:
    """``n`` events of one producer, consecutive sequence numbers, one second apart."""
    cols: dict[str, list[Any]] = {
        "event_id": [f"e-{producer}-{start_seq + i}" for i in range(n)],
        "event_time": [t0 + i * step_us for i in range(n)],
        "producer_id": [producer] * n,
        "sequence": list(range(start_seq, start_seq + n)),
        "feature": ["chat"] * n,
        "model": ["llama-3"] * n,
        "model_version": ["3.1.0"] * n,
        "metric": [metric] * n,
        "quantity": [quantity] * n,
        "team": ["search"] * n,
        "hardware_id": ["gpu-1"] * n,
        "region": ["eu-west-1"] * n,
        "provider": [""] * n,
    }
    for name, value in overrides.items():
        cols[name] = value if isinstance(value, list) else [value] * n
    return cols


def terms(license_id: str = "lic-1", **changes: Any) -> LicenseTerms:
    base: dict[str, Any] = dict(
        tier="pro",
        quotas={"input_tokens": quota("input_tokens", 1000, "month", hard=True),
                "output_tokens": quota("output_tokens", 500, "day", hard=False, thresholds=[50, 100])},
        models=grants("llama-3=major:3", "whisper=pin:3.0.0", "sdxl"),
        hardware_ids=frozenset({"gpu-1", "gpu-2", "gpu-3"}), max_hardware=2,
        regions=frozenset({"eu-west-1"}), features=frozenset({"chat", "summarize"}),
    )
    base.update(changes)
    return LicenseTerms(license_id=license_id, **base)

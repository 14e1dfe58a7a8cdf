"""The flusher's row encoder writes, byte for byte, what the reference path writes: the builder's
columns encoded by ``BatchCodec.encode``; on random batches recorded through ``Meter.record()``."""

from __future__ import annotations

import random
from typing import Any, Callable

import pytest

from meterstream.producers import Meter
from meterstream.producers.batch import ROW_WIDTH, BatchBuilder
from meterstream.schemas import BatchCodec

PICKS: dict[str, list[Any]] = {
    "feature": [None, "chat", "embed"], "model": [None, "gpt-x", "llama-3"], "model_version": [None, "3.1"],
    "team": [None, "search", "ads"], "app": [None, "chat"], "environment": [None, "prod", "dev"],
    "purpose": [None, "support"], "hardware_id": [None, "gpu-1"], "region": [None, "eu-west-1", "us"],
    "status": ["ok", "error"], "latency_us": [None, 0, 12_345, 10**9],
    "input_hash": [None, "a" * 64], "output_hash": [None, "b" * 64],
    "provider": [None, "openai", "self-hosted"], "source": [None, "otlp"], "user_id": [None, "", "u-1", "ü-2"],
    "use_case": [None, "uc-1"], "data_categories": [None, [], ["pii"], ["pii", "phi"]],
    "sensitivity": [None, "restricted"], "trace_id": [None, "0af7651916cd43dd", "0af7651916cd43de"],
    "stage": [None, "", "generate"], "decision_id": [None, "dec-1", "decision-22"],
    "reservation_id": [None, "res-1"],
}
METRICS = ["inferences", "input_tokens", "output_tokens"]
QUANTITIES: list[Any] = [0, 1, 7, 1999, 10**9, "0.5", "123.000001"]


def _calls(rng: random.Random, n: int) -> list[tuple[str, Any, dict[str, Any]]]:
    """n calls; each field either fixed for the batch (the usual service) or drawn per call."""
    fixed = {name: rng.random() < 0.7 for name in PICKS}
    chosen = {name: rng.choice(values) for name, values in PICKS.items()}
    metric, quantity = rng.choice(METRICS), rng.choice(QUANTITIES)
    out = []
    for _ in range(n):
        kw = {name: chosen[name] if fixed[name] else rng.choice(values) for name, values in PICKS.items()}
        kw = {k: v for k, v in kw.items() if v is not None}
        if rng.random() < 0.1:
            kw["event_time_us"] = rng.randrange(946_684_800_000_000, 7_258_118_400_000_000)  # 2000..2200
        out.append((metric if rng.random() < 0.8 else rng.choice(METRICS),
                    quantity if rng.random() < 0.5 else rng.choice(QUANTITIES), kw))
    return out


@pytest.mark.parametrize("version", [None, 1])
def test_row_encoder_writes_the_reference_bytes(offline_meter: Callable[..., Meter], version: int | None) -> None:
    rng = random.Random(16 + (version or 0))
    codec = BatchCodec(version=version)
    meter = offline_meter(model="m", team="core", provider="self-hosted", data_categories=["pii"])
    for trial in range(60):
        lic = f"lic-{trial}"
        for metric, quantity, kw in _calls(rng, rng.choice([1, 2, 3, 17, 125, 400])):
            meter.record(lic, metric, quantity, **kw)
        flat = list(meter._queues[lic])
        meter._queues[lic].clear()  # nothing left for the meter's own flusher
        builder = BatchBuilder(meter.settings, f"p-{trial}", codec)
        seq = rng.choice([0, 1, 63, 64, 8191, 8192, 2**20 - 3, 2**27 - 5, 2**40])
        builder.next_seq[lic] = seq
        fast = builder.build(lic, flat)
        assert fast == codec.encode(builder.columns(lic, flat, seq)), f"trial {trial}"
        assert codec.decode(fast).count == len(flat) // ROW_WIDTH


def test_constant_columns_come_back_from_the_cache_unchanged(offline_meter: Callable[..., Meter]) -> None:
    meter = offline_meter(model="m")
    builder = BatchBuilder(meter.settings, "p")
    for n in (5, 5, 6, 5):  # the second and fourth batches of 5 reuse cached columns
        for i in range(n):
            meter.record("lic-1", "inferences", i, feature="chat")
        flat = list(meter._queues["lic-1"])
        meter._queues["lic-1"].clear()
        seq = builder.next_seq.get("lic-1", 0)
        assert builder.build("lic-1", flat) == builder.codec.encode(builder.columns("lic-1", flat, seq))


def test_the_column_cache_stays_within_its_byte_bound(offline_meter: Callable[..., Meter],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from meterstream.producers import row_encoder

    monkeypatch.setattr(row_encoder, "CACHE_BYTES", 4096)
    meter = offline_meter(model="m")
    builder = BatchBuilder(meter.settings, "p")
    for n in range(1, 60):
        for i in range(n):
            meter.record("lic-1", "inferences", i, feature=f"feature-{n}")
        flat = list(meter._queues["lic-1"])
        meter._queues["lic-1"].clear()
        seq = builder.next_seq.get("lic-1", 0)
        assert builder.build("lic-1", flat) == builder.codec.encode(builder.columns("lic-1", flat, seq))
        assert builder.encoder._cached_bytes <= 4096
        assert builder.encoder._cached_bytes == sum(map(len, builder.encoder._columns.values()))

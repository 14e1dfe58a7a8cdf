"""A small traffic generator: realistic-looking usage from a few services, for demos and load."""

from __future__ import annotations

import random
import time
from typing import Callable
from dataclasses import dataclass

from meterstream.schemas.units import COUNTED_INSIDE, METRICS as UNIT_METRICS

from .meter import Meter

MODELS = [("llama-3", "3.1.0"), ("mistral-large", "2.0.1"), ("sdxl", "1.0.0"), ("whisper", "3.0.0")]
TEAMS = ["search", "support", "growth", "research"]
REGIONS = ["eu-west-1", "us-east-1"]
# Metrics counted inside another (cached, reasoning tokens) would need their container drawn too: left out.
METRICS = sorted(UNIT_METRICS - COUNTED_INSIDE.keys())


@dataclass
class GeneratedTotals:
    """What the generator sent, per license, to compare with what landed."""

    events: dict[str, int]
    quantity: dict[str, dict[str, int]]  # license -> metric -> unscaled (x 10^6)


def generate(meter: Meter, events: int, licenses: int, *, seed: int = 7, rate: float = 0.0,
             license_prefix: str = "lic-", progress: Callable[[int], None] | None = None) -> GeneratedTotals:
    """Record ``events`` events spread over ``licenses`` licenses; ``rate`` events/s (0 = as fast as possible).

    ``progress(n)`` is told every 1,000 events (and the rest at the end).
    """
    rng = random.Random(seed)
    ids = [f"{license_prefix}{i:04d}" for i in range(licenses)]
    totals = GeneratedTotals({i: 0 for i in ids}, {i: {} for i in ids})
    start = time.monotonic()
    for n in range(events):
        lic = ids[n % licenses] if n < licenses else rng.choice(ids)
        model, version = rng.choice(MODELS)
        metric = rng.choice(METRICS)
        quantity = rng.randint(1, 2000) if metric.endswith("tokens") else rng.randint(1, 10)
        meter.record(lic, metric, quantity, model=model, model_version=version, feature="chat",
                     team=rng.choice(TEAMS), app="demo", environment="dev", region=rng.choice(REGIONS),
                     hardware_id=f"gpu-{rng.randint(0, 3)}", latency_us=rng.randint(1000, 90000))
        totals.events[lic] += 1
        per = totals.quantity[lic]
        per[metric] = per.get(metric, 0) + quantity * 10**6
        if progress is not None and n % 1000 == 999:
            progress(1000)
        if rate and n % 100 == 0:
            ahead = n / rate - (time.monotonic() - start)
            if ahead > 0:
                time.sleep(ahead)
    if progress is not None:
        progress(events % 1000)
    return totals

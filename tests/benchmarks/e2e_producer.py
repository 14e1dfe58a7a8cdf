"""One producer process of the end-to-end benchmark: the real ``Meter``, recording as fast as it can
(or at a set rate), then flushing until Kafka acknowledged every event; prints one JSON line.

A process of its own because a service meters in its own process: the producers must not share
the test's GIL (or the worker's, or the sink's). Usage:
``python -m tests.benchmarks.e2e_producer BOOTSTRAP PREFIX SPOOL_DIR EVENTS LICENSES INDEX RATE``
(``INDEX`` makes event quantities and licenses of two producers interleave; ``RATE`` 0 = unpaced).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from meterstream.producers import Meter

METRICS = ("input_tokens", "output_tokens")
OUTPUT_TOKENS = 10  # per output_tokens event: the test sets quotas from it so thresholds fire mid-run


def license_ids(licenses: int) -> list[str]:
    return [f"e2e-{i:04d}" for i in range(licenses)]


def run(bootstrap: str, prefix: str, spool: Path, events: int, licenses: int, index: int, rate: float) -> dict:
    """Record ``events`` events round-robin over the licenses; return times (epoch µs) and rates."""
    lids = license_ids(licenses)
    with Meter(kafka_bootstrap_servers=bootstrap, topic_prefix=prefix, spool_dir=spool, model="llama-3",
               team="search", app="chat", environment="prod", region="eu-west-1") as meter:
        rec = meter.record
        cpu0, t0, first_us = time.process_time(), time.perf_counter(), time.time_ns() // 1000
        for i in range(events):
            n = i * 2 + index  # two producers: one takes the even, one the odd event numbers
            rec(lids[n % licenses], METRICS[(n // licenses) % 2], OUTPUT_TOKENS, feature="chat")
            if rate and i % 1000 == 0 and (ahead := i / rate - (time.perf_counter() - t0)) > 0:
                time.sleep(ahead)
        recorded = time.perf_counter() - t0
        meter.flush(600)
        took = time.perf_counter() - t0
        delivered = meter.stats.delivered_events
    return {"events": events, "delivered": delivered, "first_us": first_us, "recorded_s": recorded,
            "flushed_s": took, "cpu_s": time.process_time() - cpu0}


if __name__ == "__main__":
    b, p, s, e, lic, idx, r = sys.argv[1:8]
    print(json.dumps(run(b, p, Path(s), int(e), int(lic), int(idx), float(r))), flush=True)

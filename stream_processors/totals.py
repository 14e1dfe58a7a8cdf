"""Per-license running totals: events and exact quantity per metric.

Pure functions over plain dicts so the Faust agent stays thin and the logic is
unit-testable without a broker. A total remembers the offset of the last
message it absorbed: Faust redelivers messages after a crash (at-least-once),
and because one license lives on one partition and the offset is stored in the
same changelog record as the sums, a redelivered message is recognised and
skipped rather than counted twice.
"""

from __future__ import annotations

from typing import Any, Sequence


def empty_totals() -> dict[str, Any]:
    return {"events": 0, "quantity": {}, "offset": -1}


def apply_batch(totals: dict[str, Any], offset: int, metrics: Sequence[str], quantities: Sequence[int]) -> bool:
    """Add one message's events to ``totals`` in place; False if it was already counted."""
    if offset <= totals["offset"]:
        return False
    sums: dict[str, int] = totals["quantity"]
    for metric, q in zip(metrics, quantities):
        sums[metric] = sums.get(metric, 0) + q
    totals["events"] += len(metrics)
    totals["offset"] = offset
    return True

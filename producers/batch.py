"""Turning one license's buffered rows into one columnar Avro message (the flusher's work).

A row is what ``Meter.record()`` appended on the caller's thread: only the
values that vary per call, ``None`` where the meter's defaults apply. Rows are
stored flat, ``ROW_WIDTH`` values each, in one list per license: no object per
event stays alive (a tuple per buffered event costs ~1 µs of garbage-collector
work per event at high rates), and column ``i`` is the slice ``flat[i::ROW_WIDTH]``.
The flusher numbers the rows (sequence per producer and license), fills
defaults and encodes the columns with ``BatchCodec``.
"""

from __future__ import annotations

from typing import Any, Sequence

from meterstream.schemas import BatchCodec

from .settings import ProducerSettings

# Position of each per-call value in a row, as appended by Meter.record().
ROW_FIELDS = ("event_id", "event_time", "metric", "quantity", "feature", "model", "model_version", "status",
              "latency_us", "team", "app", "environment", "purpose", "hardware_id", "region",
              "input_hash", "output_hash")
ROW_WIDTH = len(ROW_FIELDS)
DEFAULTED = ("feature", "model", "model_version", "team", "app", "environment", "purpose", "hardware_id",
             "region")


class BatchBuilder:
    """Encodes per-license batches; keeps the next sequence number of every license."""

    def __init__(self, settings: ProducerSettings, producer_id: str, codec: BatchCodec | None = None) -> None:
        self.codec = codec or BatchCodec()
        self.producer_id = producer_id
        self.defaults: dict[str, Any] = {name: getattr(settings, name) for name in DEFAULTED}
        self.next_seq: dict[str, int] = {}

    def build(self, license_id: str, flat: Sequence[Any]) -> bytes:
        """One message holding the rows in ``flat`` (all of ``license_id``), with their sequence numbers."""
        n = len(flat) // ROW_WIDTH
        seq = self.next_seq.get(license_id, 0)
        self.next_seq[license_id] = seq + n
        columns: dict[str, Sequence[Any]] = {
            "license_id": [license_id] * n,
            "producer_id": [self.producer_id] * n,
            "sequence": range(seq, seq + n),
        }
        defaults = self.defaults
        for i, name in enumerate(ROW_FIELDS):
            col = flat[i::ROW_WIDTH]
            if name in defaults and None in col:
                d = defaults[name]
                col = [d] * n if col.count(None) == n else [d if v is None else v for v in col]
            columns[name] = col
        return self.codec.encode(columns)

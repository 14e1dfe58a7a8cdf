"""Turning one license's buffered rows into one columnar Avro message (the flusher's work).

A row is what ``Meter.record()`` appended on the caller's thread: only the
values that vary per call, ``None`` where the meter's defaults apply. Rows are
stored flat, ``ROW_WIDTH`` values each, in one list per license: no object per
event stays alive (a tuple per buffered event costs ~1 µs of garbage-collector
work per event at high rates), and column ``i`` is the slice ``flat[i::ROW_WIDTH]``.
The flusher numbers the rows (sequence per producer and license), fills
defaults and encodes the columns with ``BatchCodec``. Work that can wait is
left to it: a row holds its event time in nanoseconds (``time.time_ns()``,
divided here, not in the call).

The fields added by usage event v2 (provider, tracing, governance tags...)
share one slot of the row, ``extra``: ``None`` when the call gave none of them
(the usual case, which then costs one slot instead of ten), else a tuple in
``EXTRA_FIELDS`` order with ``None`` for each one not given.
"""

from __future__ import annotations

from typing import Any, Sequence

from meterstream.schemas import BatchCodec

from .settings import ProducerSettings

# Position of each per-call value in a row, as appended by Meter.record().
ROW_FIELDS = ("event_id", "event_time_ns", "metric", "quantity", "feature", "model", "model_version", "status",
              "latency_us", "team", "app", "environment", "purpose", "hardware_id", "region",
              "input_hash", "output_hash", "extra")
ROW_WIDTH = len(ROW_FIELDS)
EXTRA = ROW_FIELDS.index("extra")
TIME = ROW_FIELDS.index("event_time_ns")
DEFAULTED = ("feature", "model", "model_version", "team", "app", "environment", "purpose", "hardware_id",
             "region")
# The v2 fields carried in the ``extra`` slot, in tuple order.
EXTRA_FIELDS = ("provider", "source", "user_id", "use_case", "data_categories", "sensitivity", "trace_id",
                "stage", "decision_id", "reservation_id")
EXTRA_DEFAULTED = ("provider", "source", "use_case", "data_categories", "sensitivity")  # from the settings
NO_EXTRA = (None,) * len(EXTRA_FIELDS)


def extra_defaults(settings: ProducerSettings) -> dict[str, Any]:
    """What each v2 field holds when a call leaves it out: the meter's default, else the schema's."""
    out: dict[str, Any] = {"user_id": "", "trace_id": None, "stage": "", "decision_id": None,
                           "reservation_id": None}
    for name in EXTRA_DEFAULTED:
        out[name] = getattr(settings, name)
    out["data_categories"] = tuple(out["data_categories"])
    return out


def _defaulted(col: Sequence[Any], default: Any, n: int) -> Sequence[Any]:
    """``col`` with ``default`` for each None. A column usually holds one object throughout (a service
    passes the same string, or nothing): ``count`` finds that by identity at C speed, where ``None in
    col`` would compare every string with None."""
    first = col[0]
    if col[-1] is first and col.count(first) == n:
        return [default] * n if first is None else col
    if None in col:
        return [default if v is None else v for v in col]
    return col


class BatchBuilder:
    """Encodes per-license batches; keeps the next sequence number of every license."""

    def __init__(self, settings: ProducerSettings, producer_id: str, codec: BatchCodec | None = None) -> None:
        self.codec = codec or BatchCodec()
        self.producer_id = producer_id
        self.defaults: dict[str, Any] = {name: getattr(settings, name) for name in DEFAULTED}
        self.extra_defaults = extra_defaults(settings)
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
        for i, name in enumerate(ROW_FIELDS[:EXTRA]):
            col = flat[i::ROW_WIDTH]
            if name in defaults:
                columns[name] = _defaulted(col, defaults[name], n)
            elif i == TIME:
                columns["event_time"] = [t // 1000 for t in col]  # µs, as the schema has it
            else:
                columns[name] = col
        columns.update(self._extra_columns(flat[EXTRA::ROW_WIDTH], n))
        return self.codec.encode(columns)

    def _extra_columns(self, extras: Sequence[tuple[Any, ...] | None], n: int) -> dict[str, Sequence[Any]]:
        """The v2 columns from the rows' ``extra`` slots, defaults filled in."""
        defaults = self.extra_defaults
        if extras.count(None) == n:  # no call gave any v2 field: every column is its default
            return {name: [defaults[name]] * n for name in EXTRA_FIELDS}
        rows = [e or NO_EXTRA for e in extras]
        out: dict[str, Sequence[Any]] = {}
        for i, name in enumerate(EXTRA_FIELDS):
            d = defaults[name]
            col = [r[i] for r in rows]
            out[name] = col if d is None else [d if v is None else v for v in col]
        return out

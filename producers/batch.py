"""Turning one license's buffered rows into one columnar Avro message (the flusher's work).

A row is what ``Meter.record()`` appended on the caller's thread: only the
values that vary per call, ``None`` where the meter's defaults apply. Rows are
stored flat, ``ROW_WIDTH`` values each, in one list per license: no object per
event stays alive (a tuple per buffered event costs ~1 µs of garbage-collector
work per event at high rates), and column ``i`` is the slice ``flat[i::ROW_WIDTH]``.
The flusher numbers the rows (sequence per producer and license), fills
defaults and encodes them with ``RowEncoder`` (``row_encoder.py``), which writes
the bytes ``BatchCodec.encode`` writes for ``BatchBuilder.columns``. Work that
can wait is left to it: a row holds its event time in nanoseconds
(``time.time_ns()``, divided here, not in the call). The row's layout, with its
one ``extra`` slot for the v2 fields, is in ``layout.py``.
"""

from __future__ import annotations

from typing import Any, Sequence

from meterstream.schemas import BatchCodec
from meterstream.schemas.codec import event_defaults

from .layout import DEFAULTED, EXTRA, EXTRA_DEFAULTED, EXTRA_FIELDS, NO_EXTRA, ROW_FIELDS, ROW_WIDTH, TIME
from .row_encoder import RowEncoder
from .settings import ProducerSettings

__all__ = ["ROW_WIDTH", "BatchBuilder", "extra_defaults"]


def extra_defaults(settings: ProducerSettings, codec: BatchCodec) -> dict[str, Any]:
    """What each v2 field holds when a call leaves it out: the meter's default, else the schema's."""
    schema = event_defaults(codec.registry)
    out: dict[str, Any] = {name: getattr(settings, name) if name in EXTRA_DEFAULTED else schema[name]
                           for name in EXTRA_FIELDS}
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
        self.extra_defaults = extra_defaults(settings, self.codec)
        self.next_seq: dict[str, int] = {}
        self.encoder = RowEncoder(self.codec, producer_id, self.defaults, self.extra_defaults)

    def build(self, license_id: str, flat: Sequence[Any]) -> bytes:
        """One message holding the rows in ``flat`` (all of ``license_id``), with their sequence numbers."""
        n = len(flat) // ROW_WIDTH
        seq = self.next_seq.get(license_id, 0)
        self.next_seq[license_id] = seq + n
        return self.encoder.encode(license_id, flat, seq)

    def columns(self, license_id: str, flat: Sequence[Any], seq: int) -> dict[str, Sequence[Any]]:
        """The rows as one list per field, defaults filled in: what ``build`` encodes (the reference
        its fast encoder is tested against, through ``BatchCodec.encode``)."""
        n = len(flat) // ROW_WIDTH
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
        return columns

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

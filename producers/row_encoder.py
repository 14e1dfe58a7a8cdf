"""Encoding one license's flat rows straight into a usage batch message (the flusher's hot path).

Byte for byte what ``BatchCodec.encode`` writes for the columns ``BatchBuilder.columns`` builds
(tested on random batches), with less Python per batch: a batch of one license holds most of
its 30 columns as one value throughout (license, producer, model, team, every v2 default...),
and such a column is found with one C-speed ``count`` and taken whole from a cache keyed by
(field, value, events), instead of being built as a list and walked by the general encoder.
A batch holds from ~20 events (a paced service at the default linger) up to ``batch_max_events``
(a busy one), so at the low end this per-column cost is a large part of the per-event cost.
"""

from __future__ import annotations

from typing import Any, Sequence

from meterstream.schemas import BatchCodec
from meterstream.schemas.codec import encode_column, event_defaults, zz

from .layout import EXTRA, EXTRA_FIELDS, NO_EXTRA, ROW_FIELDS, ROW_WIDTH, TIME
from .varints import sequence_items, time_items

# Where a field's column comes from: a row slot, a tuple slot of the rows' ``extra``, or the batch.
ROW, EXTRA_SLOT, LICENSE, PRODUCER, SEQUENCE, EVENT_TIME, CONSTANT = range(7)
CACHE_BYTES = 8 << 20  # encoded columns kept; the cache is emptied when they would take more

Step = tuple[int, str, int, int, Any]  # (source, column kind, slot, field number, default)


class RowEncoder:
    """Encodes flat rows (``batch.ROW_FIELDS``) of one license into one message, defaults filled in."""

    def __init__(self, codec: BatchCodec, producer_id: str, defaults: dict[str, Any],
                 extra_defaults: dict[str, Any]) -> None:
        self.header = codec.header
        self.producer_id = producer_id
        self.steps = self._steps(codec, defaults, extra_defaults)
        self._columns: dict[tuple[int, Any, int], bytes] = {}
        self._cached_bytes = 0

    @staticmethod
    def _steps(codec: BatchCodec, defaults: dict[str, Any], extra_defaults: dict[str, Any]) -> list[Step]:
        """One step per field of the codec's writer schema, in its order."""
        schema_defaults = event_defaults(codec.registry)
        steps: list[Step] = []
        for number, (name, kind) in enumerate(codec.plan(codec.schema)):
            if name == "license_id":
                steps.append((LICENSE, kind, 0, number, None))
            elif name == "producer_id":
                steps.append((PRODUCER, kind, 0, number, None))
            elif name == "sequence":
                steps.append((SEQUENCE, kind, 0, number, None))
            elif name == "event_time":
                steps.append((EVENT_TIME, kind, TIME, number, None))
            elif name in ROW_FIELDS[:EXTRA]:
                steps.append((ROW, kind, ROW_FIELDS.index(name), number, defaults.get(name)))
            elif name in EXTRA_FIELDS:
                steps.append((EXTRA_SLOT, kind, EXTRA_FIELDS.index(name), number, extra_defaults[name]))
            elif name in schema_defaults:  # a field the meter never fills: the schema's default
                default = schema_defaults[name]
                steps.append((CONSTANT, kind, 0, number, tuple(default) if isinstance(default, list) else default))
            else:
                raise ValueError(f"the meter has no value for field {name!r} (no default in the schema)")
        return steps

    def encode(self, license_id: str, flat: Sequence[Any], seq: int) -> bytes:
        """The message for the rows in ``flat`` (all of ``license_id``), numbered from ``seq``."""
        n = len(flat) // ROW_WIDTH
        parts = [self.header]
        extras = flat[EXTRA::ROW_WIDTH]
        extra_rows = None if extras.count(None) == n else [e or NO_EXTRA for e in extras]
        for source, kind, slot, number, default in self.steps:
            if source == ROW:
                col = flat[slot::ROW_WIDTH]
            elif source == EXTRA_SLOT:
                if extra_rows is None:
                    parts.append(self._constant(number, kind, default, n))
                    continue
                col = [r[slot] for r in extra_rows]
            elif source == LICENSE:
                parts.append(self._constant(number, kind, license_id, n))
                continue
            elif source == PRODUCER:
                parts.append(self._constant(number, kind, self.producer_id, n))
                continue
            elif source == SEQUENCE:
                parts.append(_framed(sequence_items(seq, n), n) if seq >= 0
                             else encode_column(kind, range(seq, seq + n)))
                continue
            elif source == EVENT_TIME:
                ns = flat[TIME::ROW_WIDTH]
                times = time_items(ns)
                parts.append(encode_column(kind, [t // 1000 for t in ns]) if times is None  # ns → µs
                             else _framed(times, n))
                continue
            else:
                parts.append(self._constant(number, kind, default, n))
                continue
            first = col[0]
            if col[-1] is first and col.count(first) == n:  # one value throughout: the usual case
                parts.append(self._constant(number, kind, default if first is None else first, n))
            elif default is not None and None in col:
                parts.append(encode_column(kind, [default if v is None else v for v in col]))
            else:
                parts.append(encode_column(kind, col))
        return b"".join(parts)

    def _constant(self, number: int, kind: str, value: Any, n: int) -> bytes:
        """The encoded column of ``value`` n times, from the cache (values are hashable: str, int, tuple)."""
        key = (number, value, n)
        out = self._columns.get(key)
        if out is None:
            out = encode_column(kind, [value] * n)
            if self._cached_bytes + len(out) > CACHE_BYTES:
                self._columns.clear()
                self._cached_bytes = 0
            self._columns[key] = out
            self._cached_bytes += len(out)
        return out


def _framed(items: bytes, n: int) -> bytes:
    """An array of n encoded items as ``encode_column`` frames it: one block with its byte size."""
    return b"".join((zz(-n), zz(len(items)), items, b"\x00"))

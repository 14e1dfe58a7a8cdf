"""The bytes of a license's state in the ``license_state`` table and its changelog.

Layout v1: one version byte (``0x01``) and a *positional* JSON array, fields in
the order of ``LicenseState`` (no key names), int-keyed maps (rolling buckets,
armed thresholds) and sequence holes as flat lists, outbox entries as
``[offset, forget_after_us, alert]`` (the alert id is the alert's own
``alert_id``). Chosen by measurement over Faust's JSON of the old dict and
over an Avro schema read by fastavro: see the issue note and
``tests/benchmarks/test_processor_benchmark.py``. JSON also keeps Python's
unbounded ints (an all-time total cannot overflow a long).

Layout v2 (``0x02``) appends a 13th field, the open reservations, as
``{reservation id: [metric, quantity, expires_us, decision_id]}``; v1 values
(written before reservations existed) still load, with none open.

Layout v3 (``0x03``, written now) appends the governance fields to the v2 array:
``seen`` (``{scope: {id hash: first day}}``) and ``spend``
(``{"<scope>|<YYYY-MM>|<currency>": cost x 10^18}``), 15 fields in all; v1 and
v2 values load with them empty. (The governance branch called this layout
``0x02`` before it was merged; that value was never written by a released
worker, and ``0x02`` means the reservations layout.)

Every layout starts with a byte that names it, so a later layout adds a reader
and keeps this one. Byte ``{`` is layout 0: the JSON dict of string keys the
processors wrote before typed state, read so that an upgraded worker restores
an old changelog.

A value that cannot be decoded raises ``StateDecodeError`` naming the license.
Treating it as a fresh state would count the license's quota from zero and
forget which offsets and alerts were already applied (double counting on
redelivery), so the worker stops instead: the changelog needs an operator.
"""

from __future__ import annotations

import json
from typing import Any, Callable

from .errors import StateDecodeError
from .state import Hole, LicenseState, OutboxEntry, Reservation, RollingWindow, SequenceTrack, SpikeBaseline

V1 = 1
V2 = 2
V3 = 3
LEGACY = ord("{")
_dumps = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode
_FIELDS_V1 = 12
_FIELDS_V2 = _FIELDS_V1 + 1
_FIELDS_V3 = _FIELDS_V2 + 2


def _flat(mapping: dict[int, Any]) -> list[Any]:
    return [x for kv in mapping.items() for x in kv]


def _pairs(flat: list[Any]) -> dict[Any, Any]:
    return dict(zip(flat[::2], flat[1::2]))


def encode_state(st: LicenseState) -> bytes:
    """Layout v3 bytes of ``st``."""
    body = [
        st.offset, st.events, st.repeats, st.unknown_events, st.quantity, st.days,
        {m: [_flat(w.buckets), _flat(w.armed), w.hard] for m, w in st.rolling.items()},
        st.exhausted,
        [[e.offset, e.forget_after_us, e.alert] for e in st.outbox.values()],
        {p: [t.hi, [x for h in t.holes for x in (h.start, h.end, h.seen_us, h.reported)]]
         for p, t in st.seq.items()},
        st.hw,
        {s: [b.bucket, b.total, b.mean, b.var, b.history, b.fired_bucket] for s, b in st.spike.items()},
        {r: [x.metric, x.quantity, x.expires_us, x.decision_id] for r, x in st.reservations.items()},
        st.seen, st.spend,
    ]
    return b"\x03" + _dumps(body).encode()


def _holes(flat: list[Any]) -> list[Hole]:
    return [Hole(*flat[i:i + 4]) for i in range(0, len(flat), 4)]


def _read_v2(raw: bytes) -> LicenseState:
    body = json.loads(raw[1:])
    if not isinstance(body, list) or len(body) != _FIELDS_V2:
        raise ValueError(f"expected a list of {_FIELDS_V2} fields")
    return _from_v2_fields(body)


def _read_v3(raw: bytes) -> LicenseState:
    body = json.loads(raw[1:])
    if not isinstance(body, list) or len(body) != _FIELDS_V3:
        raise ValueError(f"expected a list of {_FIELDS_V3} fields")
    st = _from_v2_fields(body[:_FIELDS_V2])
    seen, spend = body[_FIELDS_V2:]
    if not isinstance(seen, dict) or not isinstance(spend, dict):
        raise TypeError("seen and spend must be maps")
    st.seen, st.spend = seen, spend
    return st


def _read_v1(raw: bytes) -> LicenseState:
    body = json.loads(raw[1:])
    if not isinstance(body, list) or len(body) != _FIELDS_V1:
        raise ValueError(f"expected a list of {_FIELDS_V1} fields")
    return _from_v1_fields(body)


def _from_v2_fields(body: list[Any]) -> LicenseState:
    st = _from_v1_fields(body[:_FIELDS_V1])
    st.reservations = {r: Reservation(*x) for r, x in body[_FIELDS_V1].items()}
    return st


def _from_v1_fields(body: list[Any]) -> LicenseState:
    offset, events, repeats, unknown, quantity, days, rolling, exhausted, outbox, seq, hw, spike = body
    if not all(type(v) is int for v in body[:4]):
        raise TypeError("offset and counters must be integers")
    return LicenseState(
        offset, events, repeats, unknown, quantity, days,
        {m: RollingWindow(_pairs(b), _pairs(a), h) for m, (b, a, h) in rolling.items()},
        exhausted,
        {e[2]["alert_id"]: OutboxEntry(*e) for e in outbox},
        {p: SequenceTrack(hi, _holes(holes)) for p, (hi, holes) in seq.items()},
        hw,
        {s: SpikeBaseline(*b) for s, b in spike.items()},
    )


def _read_legacy(raw: bytes) -> LicenseState:
    """Layout 0: the dict the processors wrote through Faust's JSON serializer."""
    d = json.loads(raw)
    armed = d["armed"]
    rolling = {}
    for m in set(d["rolling"]) | set(armed):
        marks = armed.get(m, {})
        rolling[m] = RollingWindow({int(b): v for b, v in d["rolling"].get(m, {}).items()},
                                   {int(t): p for t, p in marks.items() if t.isdigit()}, marks.get("hard"))
    return LicenseState(
        d["offset"], d["events"], d["repeats"], d["unknown_events"], d["quantity"], d["days"], rolling,
        d["exhausted"], {aid: OutboxEntry(m["o"], m["x"], m["a"]) for aid, m in d["fired"].items()},
        {p: SequenceTrack(hi, [Hole(*h) for h in holes]) for p, (hi, holes) in d["seq"].items()},
        d["hw"], {s: SpikeBaseline(*b) for s, b in d["spike"].items()},
    )


_READERS: dict[int, Callable[[bytes], LicenseState]] = {
    V3: _read_v3, V2: _read_v2, V1: _read_v1, LEGACY: _read_legacy,
}


def decode_state(raw: bytes, license_id: str) -> LicenseState:
    """The state in ``raw``, or ``StateDecodeError`` naming the license and what is wrong."""
    if not raw:
        raise StateDecodeError(license_id, "empty value")
    reader = _READERS.get(raw[0])
    if reader is None:
        raise StateDecodeError(license_id, f"unknown layout byte 0x{raw[0]:02x} (this worker reads "
                               f"{', '.join(f'0x{v:02x}' for v in sorted(_READERS))}; written by a newer worker?)")
    try:
        return reader(raw)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise StateDecodeError(license_id, f"layout 0x{raw[0]:02x}: {type(exc).__name__}: {exc}") from None

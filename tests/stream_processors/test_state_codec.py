"""The license state's bytes: round-trips, the legacy layout, clear errors, and metering through the codec."""

from __future__ import annotations

import json
from typing import Any

import pytest

from meterstream.stream_processors import alerts as k
from meterstream.stream_processors.errors import StateDecodeError
from meterstream.stream_processors.license.terms import quota
from meterstream.stream_processors.metering import MeteringRules, apply_message
from meterstream.stream_processors.state import (Hole, LicenseState, OutboxEntry, Reservation, RollingWindow,
                                                 SequenceTrack, SpikeBaseline)
from meterstream.stream_processors.state_codec import decode_state, encode_state
from tests.stream_processors.factory import T0, US, columns, terms


def roundtrip(st: LicenseState) -> LicenseState:
    raw = encode_state(st)
    assert raw[0] == 3  # layout v3 (v1 and v2 states are read, see the old-layout tests below)
    return decode_state(raw, "lic-1")


def alert(i: int) -> dict[str, Any]:
    return k.make_alert("lic-1", k.THRESHOLD, f"alert {i} \u00e9", metric="input_tokens", period="2026-11",
                        threshold=i, evidence={"used": i, "limit": "1000"}, event_id=None if i % 2 else f"e-{i}")


def full_state() -> LicenseState:
    return LicenseState(
        offset=41, events=10**15, repeats=3, unknown_events=2, quantity={"input_tokens": 2**70},
        days={"input_tokens": {"2026-11-22": 5, "2026-11-23": 7}},
        rolling={"output_tokens": RollingWindow({T0 // 60 * US: 5, -3: 1}, {50: "rolling:3600@1", 80: "x"}, "y"),
                 "images": RollingWindow()},
        exhausted={"input_tokens": "2026-11"},
        outbox={a["alert_id"]: OutboxEntry(i, T0 + i, a) for i, a in enumerate(alert(i) for i in range(300))},
        seq={"p1": SequenceTrack(20, [Hole(3, 5, T0, True), Hole(10, 12, T0 + 1)]), "p2": SequenceTrack()},
        hw={"2026-11": ["gpu-1", "gpu-2"]},
        spike={"input_tokens": SpikeBaseline(7, 3, 0.1 + 0.2, 1e-300, 4, -1), "t|m": SpikeBaseline(1)},
        reservations={"rsv_1": Reservation("input_tokens", 2**70, T0 + 60 * US, "dec_1"),
                      "rsv_2": Reservation("images", 1, T0, "dec_2")},
        seen={"u|uc-1": {"0123456789ab": 20000}, "a|": {}},
        spend={"team:search|2026-11|USD": 10**40 + 7},
    )


def test_empty_state_round_trips() -> None:
    assert roundtrip(LicenseState()) == LicenseState()


def test_full_state_with_a_large_outbox_round_trips_exactly() -> None:
    st = full_state()
    back = roundtrip(st)
    assert back == st
    assert list(back.outbox) == list(st.outbox)  # outbox order (firing order) is kept
    assert all(type(b) is int for b in back.rolling["output_tokens"].buckets)
    assert all(type(t) is int for t in back.rolling["output_tokens"].armed)
    assert back.spike["input_tokens"].mean == 0.1 + 0.2


def test_layout_is_compact() -> None:
    raw = encode_state(LicenseState())
    assert len(raw) < 48 and b"offset" not in raw


@pytest.mark.parametrize("raw, words", [
    (b"", "empty value"),
    (b"\x04[]", "unknown layout byte 0x04"),
    (b"\x02[1,2,3]", "13 fields"),
    (b"\x03[1,2,3]", "15 fields"),
    (b"\x03[-1,0,0,0,{},{},{},{},[],{},{},{},{},[],{}]", "maps"),
    (b"\xc3\x01garbage", "unknown layout byte 0xc3"),
    (b"\x01not json", "layout 0x01"),
    (b"\x01[1,2,3]", "12 fields"),
    (b'\x01["1",0,0,0,{},{},{},{},[],{},{},{}]', "integers"),
    (b"\x01[-1,0,0,0,{},{},{},{},[[1]],{},{},{}]", "layout 0x01"),
    (b"\x01\xff\xfe", "layout 0x01"),
    (b'{"offset": 1}', "layout 0x7b"),
])
def test_garbage_raises_an_error_naming_the_license(raw: bytes, words: str) -> None:
    with pytest.raises(StateDecodeError, match="lic-7") as exc:
        decode_state(raw, "lic-7")
    assert words in str(exc.value) and exc.value.license_id == "lic-7"


def legacy_dict() -> dict[str, Any]:
    """A state as the processors stored it before typed state (Faust JSON of a dict)."""
    a = alert(50)
    return {"offset": 9, "events": 30, "quantity": {"input_tokens": 300}, "days": {"input_tokens": {"2026-11-22": 300}},
            "rolling": {"output_tokens": {"29480000": 12}}, "exhausted": {"input_tokens": "2026-11"},
            "armed": {"output_tokens": {"50": "rolling:60@1", "hard": "rolling:60@1"}},
            "fired": {a["alert_id"]: {"o": 8, "x": T0, "a": a}}, "seq": {"p1": [30, [[10, 12, T0, False]]]},
            "hw": {"2026-11": ["gpu-1"]}, "spike": {"input_tokens": [5, 10, 2.5, 0.5, 3, -1]},
            "repeats": 1, "unknown_events": 0}


def test_layout_v1_is_read_with_no_reservations_and_empty_governance_fields() -> None:
    """A changelog written before reservations and governance (layout v1) still loads; the new fields start empty."""
    st = full_state()
    v3 = json.loads(encode_state(st)[1:])
    back = decode_state(b"\x01" + json.dumps(v3[:12]).encode(), "lic-1")
    assert back.reservations == {} and back.seen == {} and back.spend == {}
    st.reservations, st.seen, st.spend = {}, {}, {}
    assert back == st


def test_layout_v2_is_read_with_its_reservations_and_empty_governance_fields() -> None:
    """Layout v2 (main's reservations layout, in changelogs written by those workers) keeps its reservations."""
    st = full_state()
    v3 = json.loads(encode_state(st)[1:])
    back = decode_state(b"\x02" + json.dumps(v3[:13]).encode(), "lic-1")
    assert back.reservations == st.reservations and back.seen == {} and back.spend == {}
    st.seen, st.spend = {}, {}
    assert back == st
    assert roundtrip(back) == back  # re-written as v3


def test_a_v2_value_as_written_by_a_reservations_worker_is_read() -> None:
    """Literal bytes of layout v2 (the encoder before governance), not derived from today's encoder."""
    raw = (b'\x02[5,3,0,0,{"input_tokens":300},{"input_tokens":{"2026-11-22":300}},{},{},[],'
           b'{"p1":[3,[]]},{},{},{"rsv_a":["input_tokens",50,1795000000000000,"dec_a"]}]')
    st = decode_state(raw, "lic-1")
    assert (st.offset, st.events, st.quantity) == (5, 3, {"input_tokens": 300})
    assert st.reservations == {"rsv_a": Reservation("input_tokens", 50, 1795000000000000, "dec_a")}
    assert st.seq["p1"] == SequenceTrack(3, []) and st.seen == {} and st.spend == {}


def test_legacy_layout_is_read() -> None:
    d = legacy_dict()
    st = decode_state(json.dumps(d).encode(), "lic-1")
    assert (st.offset, st.events, st.quantity, st.repeats) == (9, 30, {"input_tokens": 300}, 1)
    assert st.rolling["output_tokens"] == RollingWindow({29480000: 12}, {50: "rolling:60@1"}, "rolling:60@1")
    entry = next(iter(st.outbox.values()))
    assert (entry.offset, entry.forget_after_us, entry.alert) == (8, T0, d["fired"][entry.alert["alert_id"]]["a"])
    assert st.seq["p1"] == SequenceTrack(30, [Hole(10, 12, T0, False)])
    assert st.spike["input_tokens"] == SpikeBaseline(5, 10, 2.5, 0.5, 3, -1)
    assert roundtrip(st) == st


class CodecEachMessage:
    """Applies messages the way the worker does: the state goes through its bytes between messages."""

    def __init__(self, t: Any = None, rules: MeteringRules = MeteringRules(gap_grace_us=30 * US)) -> None:
        self.raw: bytes | None = None
        self.t = terms() if t is None else t
        self.rules = rules

    def apply(self, offset: int, cols: dict[str, list[Any]]) -> tuple[LicenseState, list[dict[str, Any]], bool]:
        st = None if self.raw is None else decode_state(self.raw, "lic-1")
        st, applied = apply_message(st, "lic-1", self.t, offset, cols, self.rules)
        if applied.changed:
            self.raw = encode_state(st)
        return st, applied.alerts, applied.changed


def test_exactly_once_effects_survive_the_codec() -> None:
    """Redelivered offsets, resent alerts, repeats, gaps and outbox pruning, with a decode per message."""
    w = CodecEachMessage()
    msgs = [columns(10, start_seq=i * 10, t0=T0 + i * 10 * US) for i in range(6)]
    fired = [a for off, c in enumerate(msgs) for a in w.apply(off, c)[1]]
    fifty = [a for a in fired if a["threshold"] == 50][0]
    st, again, changed = w.apply(4, msgs[4])
    assert not changed and again == [fifty] and st.events == 60
    st, repeat, _ = w.apply(6, msgs[0])
    assert [a["kind"] for a in repeat] == [k.SEQUENCE_REPEAT] and st.events == 60 and st.repeats == 10
    w.apply(7, columns(5, start_seq=65, t0=T0 + 65 * US))
    st, gap, _ = w.apply(8, columns(5, start_seq=70, t0=T0 + 200 * US))
    assert [a["kind"] for a in gap] == [k.SEQUENCE_GAP] and st.seq["p1"].holes[0].reported
    assert all(e.alert["alert_id"] != fifty["alert_id"] or e.offset == 4 for e in st.outbox.values())
    st, _, _ = w.apply(9, columns(1, start_seq=75, t0=T0 + 40 * 86_400 * US))
    assert st.outbox == {}  # every mark of November is past its retention


def test_rolling_window_through_the_codec() -> None:
    t = terms(quotas={"input_tokens": quota("input_tokens", 100, "rolling:60", hard=True, thresholds=[100])})
    w = CodecEachMessage(t)
    got = [a["kind"] for off, c in enumerate([columns(10), columns(1, start_seq=10, t0=T0 + 120 * US),
                                              columns(10, start_seq=11, t0=T0 + 130 * US)])
           for a in w.apply(off, c)[1]]
    assert got == [k.THRESHOLD, k.QUOTA_EXHAUSTED, k.THRESHOLD, k.QUOTA_EXHAUSTED]

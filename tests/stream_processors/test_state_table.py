"""LicenseStates: the table holds codec bytes; decoded states are reused only while they match them."""

from __future__ import annotations

import pytest

from meterstream.stream_processors.errors import StateDecodeError
from meterstream.stream_processors.state import LicenseState
from meterstream.stream_processors.state_codec import decode_state, encode_state
from meterstream.stream_processors.state_table import LicenseStates


def test_save_writes_codec_bytes_and_load_reuses_the_saved_state() -> None:
    table: dict[bytes, bytes] = {}
    states = LicenseStates(table)
    assert states.load(b"a") is None
    st = LicenseState(offset=3, events=7)
    states.save(b"a", st)
    assert decode_state(table[b"a"], "a") == st
    assert states.load(b"a") is st


def test_a_loaded_state_is_not_reused_until_saved_again() -> None:
    """A state changed by a message whose write never happened must not leak into the next message."""
    table: dict[bytes, bytes] = {}
    states = LicenseStates(table)
    states.save(b"a", LicenseState(events=1))
    st = states.load(b"a")
    assert st is not None
    st.events = 99  # changed, never saved
    again = states.load(b"a")
    assert again is not st and again == LicenseState(events=1)


def test_bytes_changed_under_it_are_decoded() -> None:
    table: dict[bytes, bytes] = {}
    states = LicenseStates(table)
    states.save(b"a", LicenseState(events=1))
    table[b"a"] = encode_state(LicenseState(events=2))  # e.g. restored from the changelog
    assert states.peek("a") == LicenseState(events=2)
    assert states.load(b"a") == LicenseState(events=2)


def test_capacity_bounds_the_decoded_states_kept() -> None:
    table: dict[bytes, bytes] = {}
    states = LicenseStates(table, capacity=2)
    kept = {key: LicenseState(events=i) for i, key in enumerate((b"a", b"b", b"c"))}
    for key, st in kept.items():
        states.save(key, st)
    assert states.load(b"a") == kept[b"a"] and states.load(b"a") is not kept[b"a"]
    assert states.load(b"c") is kept[b"c"]
    assert dict(states.items()) == {"a": kept[b"a"], "b": kept[b"b"], "c": kept[b"c"]}


def test_undecodable_state_names_the_license() -> None:
    states = LicenseStates({b"lic-9": b"\x09junk"})
    with pytest.raises(StateDecodeError, match="lic-9"):
        states.load(b"lic-9")

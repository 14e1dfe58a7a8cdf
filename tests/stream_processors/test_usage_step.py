"""One agent step over several usage messages, without a broker: one state write per license, every
message counted once in offset order, dead letters, and columns governance asked for mid-step."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from meterstream.schemas import BatchCodec, RecordCodec
from meterstream.stream_processors.license.registry import TermsCache
from meterstream.stream_processors.license.releases import ReleaseCatalog
from meterstream.stream_processors.metering import FIELDS, MeteringRules
from meterstream.stream_processors.offline_chain import OfflineChains
from meterstream.stream_processors.state_table import LicenseStates
from meterstream.stream_processors.stats import Stats
from meterstream.stream_processors.usage_step import UsageSteps
from meterstream.producers.protect.keys import TrustedKeys
from tests.stream_processors.factory import T0, US, columns


class CountingTable(dict[bytes, Any]):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []

    def __setitem__(self, key: bytes, value: Any) -> None:
        self.writes.append(key)
        super().__setitem__(key, value)


class FakeGovernance:
    """Asks for ``user_id`` too once ``widen`` is called (rules loaded while a step awaited)."""

    view = None

    def __init__(self) -> None:
        self.extra: tuple[str, ...] = ()

    def fields(self, base: tuple[str, ...]) -> tuple[str, ...]:
        return base + self.extra

    async def ready(self) -> None:
        return None

    async def send_spend(self, records: list[dict[str, Any]]) -> None:
        assert records == []


class Sent:
    def __init__(self) -> None:
        self.values: list[tuple[bytes, bytes]] = []

    async def send(self, key: bytes, value: bytes) -> None:
        self.values.append((key, value))


def _value(license_id: str, start_seq: int, n: int = 20) -> bytes:
    cols = columns(n, start_seq=start_seq, t0=T0 + start_seq * US, producer="p1", quantity=US)
    full = {**cols, "license_id": [license_id] * n}
    for name, default in (("status", "ok"), ("latency_us", None), ("app", ""), ("environment", ""),
                          ("purpose", ""), ("input_hash", None), ("output_hash", None)):
        full.setdefault(name, [default] * n)
    return BatchCodec().encode(full)


def _steps(tmp_path: Path) -> tuple[UsageSteps, CountingTable, FakeGovernance, list[Any], Sent]:
    table, governance, dead, sent = CountingTable(), FakeGovernance(), [], Sent()

    async def dead_letter(msg: Any, exc: Exception) -> None:
        dead.append((msg.offset, str(exc)))

    async def await_licenses(partition: int) -> None:
        governance.extra = ("user_id",)  # something else ran while the step awaited
        await asyncio.sleep(0)

    steps = UsageSteps(BatchCodec(), RecordCodec("alert"), TermsCache({}), LicenseStates(table),
                       OfflineChains({}, TrustedKeys.from_dir(tmp_path)), governance,  # type: ignore[arg-type]
                       ReleaseCatalog(), MeteringRules(), Stats(0.0), sent, dead_letter,  # type: ignore[arg-type]
                       await_licenses)
    return steps, table, governance, dead, sent


def _event(key: bytes | None, value: bytes, offset: int) -> Any:
    return SimpleNamespace(message=SimpleNamespace(key=key, value=value, offset=offset, partition=0, headers=[]))


def test_a_step_writes_each_license_once_and_counts_every_message(tmp_path: Path) -> None:
    steps, table, governance, dead, sent = _steps(tmp_path)
    events = [_event(b"lic-a", _value("lic-a", 0), 0), _event(b"lic-b", _value("lic-b", 0), 1),
              _event(b"lic-a", _value("lic-a", 20), 2), _event(None, b"junk", 3),
              _event(b"lic-a", b"\xc3\x01 not a batch", 4), _event(b"lic-a", _value("lic-a", 40), 5)]
    asyncio.run(steps.run(events))
    assert sorted(table.writes) == [b"lic-a", b"lic-b"]  # one changelog record per license
    a, b = steps.states.peek("lic-a"), steps.states.peek("lic-b")
    assert a is not None and b is not None
    assert (a.events, a.offset, b.events, b.offset) == (60, 5, 20, 1)
    assert [o for o, _ in dead] == [3, 4]
    assert steps.stats.messages == 4 and steps.stats.events == 80
    # no terms: unknown_license, once per license and day, in message order
    assert [(k, RecordCodec("alert").decode(v)["kind"]) for k, v in sent.values] == [
        (b"lic-a", "unknown_license"), (b"lic-b", "unknown_license")]


def test_a_redelivered_step_counts_nothing_again_and_resends_the_same_alerts(tmp_path: Path) -> None:
    steps, table, _, _, sent = _steps(tmp_path)
    events = [_event(b"lic-a", _value("lic-a", 0), 0), _event(b"lic-a", _value("lic-a", 20), 1)]
    asyncio.run(steps.run(events))
    first = list(sent.values)
    sent.values.clear()
    asyncio.run(steps.run(events))
    state = steps.states.peek("lic-a")
    assert state is not None and state.events == 40
    assert sent.values == first and table.writes == [b"lic-a"]


def test_columns_asked_for_while_a_step_awaited_are_decoded(tmp_path: Path) -> None:
    steps, _, governance, _, _ = _steps(tmp_path)
    decoded: list[tuple[int, tuple[str, ...]]] = []
    decode = steps.codec.decode

    def spy(value: bytes, fields: Any = None) -> Any:
        if tuple(fields) != ("event_id",):  # not the event ids an alert reads
            decoded.append((len(value), tuple(fields)))
        return decode(value, fields=fields)

    steps.codec.decode = spy  # type: ignore[method-assign]
    # no license has terms: the step awaits them, and governance widens meanwhile
    asyncio.run(steps.run([_event(b"lic-a", _value("lic-a", 0), 0), _event(b"lic-b", _value("lic-b", 0), 1)]))
    assert governance.extra == ("user_id",)
    assert decoded[0][1] == FIELDS and decoded[-1][1] == FIELDS + ("user_id",)
    assert len(decoded) == 3  # the first message decoded again; the second already had the column


def test_held_events_are_applied_when_a_rebalance_stops_the_flow_or_they_wait_too_long() -> None:
    """The agent may hold taken events while it waits for more; a rebalance then waits for their acks."""
    from meterstream.stream_processors.usage_step import HeldUsage

    runs: list[list[int]] = []
    acked: list[int] = []

    class Steps:
        stats = Stats(0.0)

        async def run(self, events: list[int]) -> None:
            runs.append(list(events))

    async def ack(event: int) -> None:
        acked.append(event)

    async def scenario() -> None:
        held = HeldUsage(Steps(), ack, max_hold_s=60)  # type: ignore[arg-type]
        held.add(1), held.add(2)
        await held.apply_if_stuck(flow_active=True)  # flowing, not held long: the agent will apply them
        assert runs == [] and acked == []
        await held.apply_if_stuck(flow_active=False)  # a rebalance stopped the flow
        assert runs == [[1, 2]] and acked == [1, 2]
        held.add(3)
        held.since -= 61
        await held.apply_if_stuck(flow_active=True)  # held too long
        await held.apply()  # nothing left: no empty step
        assert runs == [[1, 2], [3]] and acked == [1, 2, 3] and Steps.stats.steps == 2

    asyncio.run(scenario())

"""The fetch loop's hand-over of one fetched batch, without a broker: order, read offsets, gaps, stale
records, commits that fall due, and a rebalance (flow stopped, new generation) mid-batch."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from faust.types import TP

from meterstream.stream_processors.batch_delivery import BatchDeliveryConsumer

A, B = TP("usage", 0), TP("usage", 1)


def consumer(commit_every: int | None = None) -> Any:
    """The attributes ``_deliver`` reads, recording what it hands over and the gaps it adds."""
    c = SimpleNamespace(delivered=[], gaps=[], _read_offset={}, _commit_every=commit_every, _n_acked=0,
                        flow_active=True, log=SimpleNamespace(dev=lambda *a: None))
    c.app = SimpleNamespace(consumer_generation_id=1, topics=SimpleNamespace(acks_enabled_for=lambda topic: True))

    async def callback(message: Any) -> None:
        c.delivered.append((message.tp, message.offset))
        c._n_acked += 1
        c.on_delivered(c)

    async def add_gap(tp: TP, start: int, end: int) -> None:
        c.gaps.append((tp, start, end))

    async def sleep(_: float) -> None:
        await asyncio.sleep(0)
    c.callback, c._add_gap, c.sleep, c.on_delivered = callback, add_gap, sleep, lambda c: None
    return c


def fetched(*pairs: tuple[TP, int]) -> list[tuple[TP, Any]]:
    return [(tp, SimpleNamespace(tp=tp, topic=tp.topic, offset=o, key=b"k", value=b"v")) for tp, o in pairs]


def deliver(c: Any, batch: list[tuple[TP, Any]], start: int = 0, generation: int = 1) -> int:
    return asyncio.run(BatchDeliveryConsumer._deliver(c, batch, start, generation))


def test_every_record_is_handed_over_in_order_and_its_read_offset_kept() -> None:
    c = consumer()
    batch = fetched((A, 0), (B, 5), (A, 1), (B, 6))
    assert deliver(c, batch) == 4
    assert c.delivered == [(A, 0), (B, 5), (A, 1), (B, 6)]
    assert c._read_offset == {A: 1, B: 6} and c.gaps == []


def test_a_hole_in_offsets_is_a_gap_and_a_record_already_read_is_dropped() -> None:
    c = consumer()
    c._read_offset = {A: 3}
    assert deliver(c, fetched((A, 2), (A, 3), (A, 7))) == 3
    assert c.delivered == [(A, 3), (A, 7)]
    assert c.gaps == [(A, 4, 7)]


def test_a_due_commit_stops_the_hand_over_before_the_next_record() -> None:
    c = consumer(commit_every=2)
    batch = fetched(*((A, o) for o in range(5)))
    assert deliver(c, batch) == 2  # two acked: the caller commits before record 2
    c._n_acked = 0
    assert deliver(c, batch, 2) == 4
    c._n_acked = 0
    assert deliver(c, batch, 4) == 5
    assert c.delivered == [(A, o) for o in range(5)]


def test_a_rebalance_mid_batch_hands_over_nothing_more() -> None:
    for stop in ("flow", "generation"):
        c = consumer()

        def rebalance(c: Any) -> None:
            if len(c.delivered) == 2:
                if stop == "flow":
                    c.flow_active = False
                else:
                    c.app.consumer_generation_id = 2
        c.on_delivered = rebalance
        batch = fetched(*((A, o) for o in range(5)))
        assert deliver(c, batch) == 5
        assert c.delivered == [(A, 0), (A, 1)] and c._read_offset == {A: 1}, stop


def test_it_yields_to_the_event_loop_every_hundred_records() -> None:
    c = consumer()
    sleeps: list[int] = []

    async def sleep(_: float) -> None:
        sleeps.append(len(c.delivered))
    c.sleep = sleep
    assert deliver(c, fetched(*((A, o) for o in range(250)))) == 250
    assert sleeps == [100, 200]

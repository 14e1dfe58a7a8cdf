"""The due-time scheduler on its own (unit tests, no broker): order, ownership, statuses, the loop."""

from __future__ import annotations

import asyncio
import threading

from meterstream.clock import now_us
from meterstream.sinks.webhooks.scheduler import DueScheduler
from meterstream.sinks.webhooks.state import PENDING, DeliveryState


def state(did: str, next_at: int, status: str = PENDING) -> DeliveryState:
    return DeliveryState(did, "ep_1", "al_1", "lic-1", b"{}", 0, status, next_at, 0, 0)


def owning(*partitions: int) -> DueScheduler:
    sched = DueScheduler()
    for p in partitions:
        sched.assign(p, {})
    return sched


def test_due_deliveries_come_out_earliest_first_and_not_before_due() -> None:
    sched = owning(0, 1)
    for did, at, p in (("c", 30, 0), ("a", 10, 1), ("b", 20, 0), ("a2", 10, 0)):
        sched.enqueue(p, state(did, at))
    assert [st.delivery_id for _, st in sched.pop_due(25)] == ["a", "a2", "b"]  # ties in enqueue order
    assert sched.pop_due(29) == []
    assert [(p, st.delivery_id) for p, st in sched.pop_due(30)] == [(0, "c")]
    assert sched.pop_due(10**18) == []  # each delivery comes out once


def test_a_reschedule_of_a_revoked_partition_is_ignored() -> None:
    sched = owning(0, 1)
    sched.enqueue(0, state("queued", 10))
    sched.enqueue(1, state("other", 10))
    sched.revoke(0)
    sched.reschedule(0, state("retried", 5))  # an attempt that was in flight when the partition went
    assert not sched.owns(0)
    assert [st.delivery_id for _, st in sched.pop_due(10**18)] == ["other"]  # the revoked one's queue dropped too


def test_a_reschedule_records_the_status_and_queues_the_new_due_time() -> None:
    sched = owning(3)
    sched.reschedule(3, state("d", 50))
    assert sched.statuses(3) == {"d": PENDING}
    assert sched.pop_due(49) == [] and [st.next_at for _, st in sched.pop_due(50)] == [50]


def test_finished_updates_the_status_and_queues_nothing() -> None:
    sched = DueScheduler()
    sched.assign(2, {"d": state("d", 10)})
    done = state("d", 10, "delivered")
    assert [st.delivery_id for _, st in sched.pop_due(10)] == ["d"]
    sched.finished(2, done)
    assert sched.statuses(2) == {"d": "delivered"}
    assert sched.pop_due(10**18) == []
    sched.finished(7, done)  # not ours: nothing recorded
    assert not sched.owns(7)


def test_assign_resumes_only_the_pending_deliveries_on_record() -> None:
    sched = DueScheduler()
    on_record = {"p": state("p", 10), "ok": state("ok", 10, "delivered"), "gone": state("gone", 10, "failed")}
    assert sched.assign(4, on_record) == 1
    assert sched.statuses(4) == {"p": PENDING, "ok": "delivered", "gone": "failed"}
    assert [st.delivery_id for _, st in sched.pop_due(10)] == ["p"]


def test_the_loop_starts_due_attempts_and_drain_waits_for_them() -> None:
    started: list[tuple[int, str]] = []
    finished: list[str] = []

    async def scenario() -> None:
        sched, stop, gate = owning(0), threading.Event(), asyncio.Event()

        async def attempt(partition: int, st: DeliveryState) -> None:
            started.append((partition, st.delivery_id))
            await gate.wait()  # an attempt in flight until the test lets it finish
            finished.append(st.delivery_id)

        now = now_us()
        sched.enqueue(0, state("later", now + 300_000))
        sched.enqueue(0, state("now", now - 1))
        loop = asyncio.create_task(sched.run(stop, attempt))
        await asyncio.sleep(0.05)
        assert started == [(0, "now")]  # "later" is not due yet
        await asyncio.sleep(0.6)
        assert started == [(0, "now"), (0, "later")]
        sched.enqueue(0, state("woken", now_us()))  # a new delivery wakes the idle loop (it would sleep 0.5 s)
        await asyncio.sleep(0.1)
        assert started[-1] == (0, "woken") and sched.in_flight == 3
        stop.set()
        await loop
        gate.set()
        await sched.drain(5)
        assert sched.in_flight == 0 and sorted(finished) == ["later", "now", "woken"]

    asyncio.run(scenario())

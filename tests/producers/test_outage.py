"""Broker outages longer than the delivery timeout: the spool keeps every event, replays it once."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest

from tests.helpers import wait_for
from tests.producers.conftest import distinct_ids, read_events

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def assert_each_event_once(events: list[dict[str, Any]], ids: list[str]) -> int:
    """Distinct ids equal what was recorded; any extra copy is identical (so dedup by id is exact).
    Returns the number of extra copies Kafka holds."""
    assert len(set(ids)) == len(ids)
    assert distinct_ids(events) == set(ids)
    copies: dict[str, set[tuple[Any, ...]]] = {}
    for e in events:
        copies.setdefault(e["event_id"], set()).add(tuple(sorted(e.items())))
    assert all(len(v) == 1 for v in copies.values()), "a replayed copy differs from the original"
    identity = Counter((e["producer_id"], e["license_id"], e["sequence"]) for e in
                       {e["event_id"]: e for e in events}.values())
    assert max(identity.values()) == 1, "two distinct events share a (producer, license, sequence)"
    return len(events) - len(ids)


def test_broker_down_longer_than_delivery_timeout_then_back(local_broker, make_meter, kafka_bootstrap,
                                                           topics) -> None:
    if local_broker is None:
        pytest.skip("needs the local broker, to stop and restart it")
    meter = make_meter(delivery_timeout_ms=3000, replay_backoff_ms=300, batch_max_events=200)
    ids = [meter.record(f"lic-{i % 10}", "inferences") for i in range(2000)]
    meter.flush(60)
    local_broker.kill()
    try:
        down_since = time.monotonic()
        while time.monotonic() - down_since < 7:  # more than twice the delivery timeout
            ids += [meter.record(f"lic-{i % 10}", "input_tokens", 5) for i in range(100)]
            time.sleep(0.02)
        wait_for(lambda: meter.stats.failed_deliveries > 0, 30, what="deliveries to time out")
        assert meter.spool.pending() > 0
    finally:
        local_broker.start(timeout=180)
    ids += [meter.record(f"lic-{i % 10}", "output_tokens", 9) for i in range(1000)]
    meter.flush(120)
    assert meter.stats.replayed_batches > 0
    events = read_events(kafka_bootstrap, topics.usage, lambda ev: len(distinct_ids(ev)) >= len(ids), 120)
    extra = assert_each_event_once(events, ids)
    print(f"\n{len(ids)} events recorded, {meter.stats.failed_deliveries} failed deliveries, "
          f"{meter.stats.replayed_batches} batches replayed, {extra} extra copies in Kafka (deduplicated by id)")


def test_damaged_spool_record_is_skipped_and_the_rest_replayed(kafka_bootstrap, topics, tmp_path) -> None:
    from meterstream.producers import Meter
    from meterstream.producers.spool import HEAD_LEN

    spool_dir = tmp_path / "spool"
    offline = Meter(kafka_bootstrap_servers="127.0.0.1:1", spool_dir=spool_dir, model="m", linger_ms=1,
                    batch_max_events=10)
    ids = [offline.record(f"lic-{i % 2}", "inferences") for i in range(100)]
    offline.close(timeout=0.5)  # Kafka unreachable: everything stays in the spool
    assert offline.spool.pending() >= 10
    seg = sorted(spool_dir.glob("*.seg"))[0]
    data = bytearray(seg.read_bytes())
    data[HEAD_LEN + 40] ^= 0xFF  # inside the first record's payload
    seg.write_bytes(bytes(data))
    with Meter(kafka_bootstrap_servers=kafka_bootstrap, topic_prefix=topics.topic_prefix, spool_dir=spool_dir,
               model="m") as meter:
        assert meter.spool.stats.corrupt_records == 1
        meter.flush(60)
    events = read_events(kafka_bootstrap, topics.usage, lambda ev: len(distinct_ids(ev)) >= 90)
    arrived = distinct_ids(events)
    assert arrived < set(ids) and 90 <= len(arrived) < 100  # one batch (at most 10 events) lost to the damage
    assert not list(spool_dir.glob("*.seg"))

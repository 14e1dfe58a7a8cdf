"""Two workers share the partitions: a key sent to either finds its license on the owner, a reservation
taken through one is seen by the other, and a wrong key is unknown at both."""

from __future__ import annotations

import time

import pytest

from meterstream.kafka.partitioner import partition_for
from meterstream.process import get_json
from meterstream.stream_processors.license.terms import quota
from tests.helpers import wait_for
from tests.stream_processors.licensing import VALIDATE_BODY, call, keyed

pytestmark = pytest.mark.integration


def test_validate_and_reserve_are_routed_to_the_owner(start_worker, admin, topics) -> None:
    made = [keyed(f"vroute-{i}", quotas={"inferences": quota("inferences", 10, hard=True)}) for i in range(8)]
    admin.publish_many([t for t, _ in made])
    env = {"METERSTREAM_PROCESSOR_KEY_FAILURES_BURST": "100000"}
    workers = [start_worker("w1", env), start_worker("w2", env)]

    def split() -> list[set[int]] | None:
        parts = [set(get_json(f"{w.url}/v1/stats")["partitions"]) for w in workers]
        return parts if all(parts) and set.union(*parts) == set(range(topics.partitions)) \
            and not parts[0] & parts[1] else None
    owned = wait_for(split, 120, interval=1, what="both workers assigned")
    time.sleep(3)
    owned = wait_for(split, 60, interval=1, what="assignment settled")

    def all_ok() -> bool:
        return all(call(w.url, "/v1/validate", k, VALIDATE_BODY)[1].get("license_id") == t.license_id
                   for w in workers for t, k in made)
    wait_for(all_ok, 60, interval=1, what="every key answered by both workers")
    foreign = sum(partition_for(t.license_id.encode(), topics.partitions) not in owned[0] for t, _ in made)
    assert foreign > 0  # some requests to w1 had to be forwarded
    for i, (t, key) in enumerate(made):
        via, other = workers[i % 2], workers[1 - i % 2]
        held = call(via.url, "/v1/reservations", key, {**VALIDATE_BODY, "quantity": "8"})[1]
        assert held["valid"] and held["reservation_id"], held
        refused = call(other.url, "/v1/reservations", key, {**VALIDATE_BODY, "quantity": "3"})[1]
        assert refused["code"] == "quota_exceeded" and refused["remaining"] == "2"
        released = call(other.url, f"/v1/reservations/{held['reservation_id']}", key, method="DELETE")[1]
        assert released["released"] is True
        assert call(via.url, "/v1/validate", key, {**VALIDATE_BODY, "quantity": "10"})[1]["code"] == "ok"
    for w in workers:
        body = call(w.url, "/v1/validate", made[0][1] + "x", VALIDATE_BODY)[1]
        assert body["code"] == "unknown_key" and body["license_id"] is None

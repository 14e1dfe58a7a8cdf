"""Two workers share the partitions; a pre-check sent to either one gets the owner's answer."""

from __future__ import annotations

import time
import urllib.error

import pytest

from meterstream.process import get_json
from meterstream.stream_processors.license.terms import quota
from meterstream.kafka.partitioner import partition_for
from tests.helpers import wait_for
from tests.stream_processors.factory import US, columns, terms

pytestmark = pytest.mark.integration

LICENSES = [f"route-{i}" for i in range(12)]


def test_check_is_routed_to_the_owning_worker(start_worker, admin, raw_producer, topics) -> None:
    hard = {"input_tokens": quota("input_tokens", 100, "month", hard=True)}
    admin.publish_many([terms(lid, quotas=hard) for lid in LICENSES])
    workers = [start_worker("w1"), start_worker("w2")]

    def split() -> list[set[int]] | None:
        parts = [set(get_json(f"{w.url}/v1/stats")["partitions"]) for w in workers]
        return parts if all(parts) and set.union(*parts) == set(range(topics.partitions)) \
            and not parts[0] & parts[1] else None
    owned = wait_for(split, 120, interval=1, what="both workers assigned")
    # Usage is produced once the group has settled: a message that arrived while a worker of a
    # brand-new group was still recovering its first assignment was seen left unread.
    stable_since = time.monotonic()
    while time.monotonic() - stable_since < 5:
        time.sleep(1)
        now_owned = wait_for(split, 120, interval=1, what="both workers assigned")
        if now_owned != owned:
            owned, stable_since = now_owned, time.monotonic()

    now = time.time_ns() // 1000
    exhausted = LICENSES[::2]  # 10 x 10 tokens = the whole limit
    for lid in exhausted:
        raw_producer.send(lid, columns(10, t0=now, producer=f"p-{lid}"))
    raw_producer.send(LICENSES[1], columns(3, t0=now, producer="p-1"))
    raw_producer.flush()

    def answers(worker_url: str) -> dict[str, tuple[str, str]]:
        out = {}
        for lid in LICENSES:
            d = get_json(f"{worker_url}/v1/licenses/{lid}/check?metric=input_tokens&quantity=1")
            assert d["license_id"] == lid
            out[lid] = (d["decision"], d["remaining"])
        return out

    expected = {lid: ("quota_exceeded", "0") if lid in exhausted else ("allow", "100") for lid in LICENSES}
    expected[LICENSES[1]] = ("allow", "70")
    last: dict[str, object] = {}

    def settled() -> bool:
        try:
            last["answers"] = answers(workers[0].url)
            return last["answers"] == expected
        except urllib.error.HTTPError as exc:  # 404 until the worker has read the licenses
            last["error"] = f"{exc} {exc.read()[:300]!r} for {exc.url}"
            return False
    try:
        wait_for(settled, 60, what="licenses read and exhaustion visible")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last answers {last} (expected {expected})") from None
    routed = 0
    for w, mine in zip(workers, owned):
        assert answers(w.url) == expected
        routed += sum(partition_for(lid.encode(), topics.partitions) not in mine for lid in LICENSES)
        assert get_json(f"{w.url}/v1/licenses/{LICENSES[0]}/quota")["metrics"]["input_tokens"]["exhausted"]
    assert routed >= len(LICENSES) // 2  # many requests reached a worker that does not own the license
    with pytest.raises(Exception, match="404"):
        get_json(f"{workers[0].url}/v1/licenses/nobody/check?metric=input_tokens")

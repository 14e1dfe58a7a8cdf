"""Events recorded through the meter arrive in Kafka whole: every field, sequences without gaps."""

from __future__ import annotations

import asyncio
import hashlib
from collections import defaultdict
from decimal import Decimal

import pytest

from tests.producers.conftest import distinct_ids, read_events

pytestmark = pytest.mark.integration


def test_every_field_arrives_and_sequences_are_gapless_per_license(make_meter, kafka_bootstrap, topics) -> None:
    meter = make_meter(team="search", app="chat", environment="prod", region="eu-west-1", hardware_id="gpu-0",
                       model_version="3.1", batch_max_events=50)
    ids = [meter.record(f"lic-{i % 7}", "output_tokens", i, purpose="support", output=f"answer {i}",
                        input=b"prompt", latency_us=1000 + i) for i in range(1000)]
    special = meter.record("lic-x", "gpu_seconds", Decimal("0.25"), model="sdxl", model_version="1.0",
                           status="error", region="us-east-1", event_time_us=1_767_225_600_000_000)
    meter.flush(30)
    events = read_events(kafka_bootstrap, topics.usage, lambda ev: len(distinct_ids(ev)) >= 1001)
    assert len(events) == 1001 and distinct_ids(events) == set(ids) | {special}
    by_id = {e["event_id"]: e for e in events}
    e = by_id[ids[42]]
    assert (e["license_id"], e["metric"], e["quantity"], e["model"], e["model_version"]) == (
        "lic-0", "output_tokens", 42 * 10**6, "llama-3", "3.1")
    assert (e["team"], e["app"], e["environment"], e["purpose"], e["hardware_id"], e["region"]) == (
        "search", "chat", "prod", "support", "gpu-0", "eu-west-1")
    assert e["input_hash"] == hashlib.sha256(b"prompt").hexdigest()
    assert e["output_hash"] == hashlib.sha256(b"answer 42").hexdigest()
    assert (e["status"], e["latency_us"], e["producer_id"]) == ("ok", 1042, meter.producer_id)
    s = by_id[special]
    assert (s["quantity"], s["status"], s["region"], s["event_time"], s["latency_us"], s["input_hash"]) == (
        250_000, "error", "us-east-1", 1_767_225_600_000_000, None, None)
    seqs: dict[str, list[int]] = defaultdict(list)
    for ev in events:
        seqs[ev["license_id"]].append(ev["sequence"])
    assert {lic: sorted(s) for lic, s in seqs.items()} == {lic: list(range(len(s))) for lic, s in seqs.items()}
    assert meter.stats.delivered_events == 1001 and meter.stats.failed_deliveries == 0


def test_timed_calls_record_status_and_latency_and_reraise(make_meter, kafka_bootstrap, topics) -> None:
    meter = make_meter()

    with meter.timed("lic-t", "output_tokens", feature="summarize") as call:
        call.quantity = 120
        call.output = "the summary"
    with pytest.raises(ZeroDivisionError):
        with meter.timed("lic-t", feature="summarize"):
            1 / 0

    @meter.timed("lic-t", "images", 2)
    def draw() -> str:
        return "png"

    @meter.timed("lic-t", "pages")
    async def read_pages() -> int:
        await asyncio.sleep(0.01)
        return 3

    async def main() -> None:
        async with meter.timed("lic-t", "inferences"):
            await asyncio.sleep(0.02)
        assert await read_pages() == 3
        await meter.arecord("lic-t", "input_tokens", 7)

    assert draw() == "png" and draw() == "png"
    asyncio.run(main())
    meter.flush(30)
    events = read_events(kafka_bootstrap, topics.usage, lambda ev: len(ev) >= 7)
    got = sorted((e["metric"], e["status"], e["quantity"] // 10**6, e["feature"]) for e in events)
    assert got == sorted([("output_tokens", "ok", 120, "summarize"), ("inferences", "error", 1, "summarize"),
                          ("images", "ok", 2, ""), ("images", "ok", 2, ""), ("pages", "ok", 1, ""),
                          ("inferences", "ok", 1, ""), ("input_tokens", "ok", 7, "")])
    by_metric = {e["metric"]: e for e in events}
    assert by_metric["output_tokens"]["output_hash"] == hashlib.sha256(b"the summary").hexdigest()
    assert by_metric["pages"]["latency_us"] >= 10_000
    assert all(e["latency_us"] is not None for e in events if e["metric"] != "input_tokens")


def test_strict_mode_returns_once_durable(make_meter, kafka_bootstrap, topics) -> None:
    meter = make_meter(fsync="always")
    ids = [meter.record("lic-s", "inferences") for _ in range(50)]
    # Each acknowledged event was on disk before record() returned, so the spool counted it.
    assert meter.stats.spooled_events >= 50 and meter.stats.fsyncs > 0

    async def more() -> list[str]:
        return [await meter.arecord("lic-s", "inferences") for _ in range(5)]
    ids += asyncio.run(more())
    meter.flush(30)
    events = read_events(kafka_bootstrap, topics.usage, lambda ev: len(ev) >= 55)
    assert distinct_ids(events) == set(ids) and len(events) == 55


def test_interpreter_exit_flushes_what_was_recorded(kafka_bootstrap, topics, tmp_path) -> None:
    import subprocess
    import sys

    code = ("from meterstream.producers import Meter\n"
            f"m = Meter(kafka_bootstrap_servers={kafka_bootstrap!r}, topic_prefix={topics.topic_prefix!r}, "
            f"spool_dir={str(tmp_path / 'spool')!r}, model='m', linger_ms=60000)\n"
            "print('\\n'.join(m.record(f'lic-{i % 3}', 'inferences') for i in range(500)))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    ids = set(out.stdout.split())
    assert len(ids) == 500
    events = read_events(kafka_bootstrap, topics.usage, lambda ev: len(ev) >= 500)
    assert distinct_ids(events) == ids and len(events) == 500
    assert not list((tmp_path / "spool").glob("*.seg"))  # all acknowledged: nothing left to replay

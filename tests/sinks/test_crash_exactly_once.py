"""SIGKILL the real sink process between a write and its commit, restart it: zero duplicates, zero losses.

Duplicates are offered both ways: the restarted sink re-reads the messages it
wrote but did not commit (with different flush boundaries), and a producer
"replays its spool": the same event ids are produced again in new messages.
The child owns its own embedded ClickHouse; the test reads it through
`meterstream sql` after the child has exited.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from meterstream.process import spawn, terminate
from meterstream.schemas import BatchCodec
from meterstream.schemas.codec import MAGIC
from tests.helpers import wait_for
from tests.sinks.conftest import batch

pytestmark = [pytest.mark.integration, pytest.mark.slow]
LICENSES, PER_MESSAGE, MESSAGES_PER_LICENSE = 20, 100, 10
ROOT = Path(__file__).resolve().parents[2]


def _produce(bootstrap: str, topic: str, messages: list[tuple[str, dict]]) -> None:
    codec, p = BatchCodec(), Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for lic, cols in messages:
        p.produce(topic, codec.encode(cols), lic.encode())
    assert p.flush(30) == 0


def _all_committed(bootstrap: str, group: str, topic: str, partitions: int) -> bool:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        tps = c.committed([TopicPartition(topic, i) for i in range(partitions)], timeout=10)
        return all(tp.offset == c.get_watermark_offsets(tp, timeout=10)[1] for tp in tps)
    finally:
        c.close()


def _spawn_crashing_sink(after_writes: int, log_file: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """The real sink command in a child that SIGKILLs itself after its n-th write, before the commit."""
    with open(log_file, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "tests.sinks.crashing_sink", str(after_writes)],
                                stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env={**os.environ, **env},
                                start_new_session=True)


def _sql(url: str, statement: str) -> list[dict]:
    out = subprocess.run([sys.executable, "-m", "meterstream.cli", "sql", statement, "--format", "json", "--url", url],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    return [json.loads(line) for line in out.splitlines()]


def test_sigkill_between_write_and_commit_loses_and_duplicates_nothing(kafka_env, topics, tmp_path: Path) -> None:
    bootstrap = kafka_env["METERSTREAM_KAFKA_BOOTSTRAP_SERVERS"]
    url = f"chdb://{tmp_path / 'sink-ch'}"
    env = {**kafka_env, "METERSTREAM_CLICKHOUSE_URL": url, "METERSTREAM_SINK_CONSUMERS": "usage",
           "METERSTREAM_SINK_FLUSH_ROWS": "3000", "METERSTREAM_SINK_FLUSH_MS": "300",
           "METERSTREAM_EVIDENCE_KEY_PATH": str(tmp_path / "evidence.key"), "METERSTREAM_EVIDENCE_CHECKPOINT_EVENTS": "2000"}
    messages = [(f"lic-{i:02d}", batch(f"lic-{i:02d}", PER_MESSAGE, when=datetime(2026, 4, 1, 10 + m % 5),
                                       quantity=1_500_000, hardware=f"gpu-{m % 3}"))
                for i in range(LICENSES) for m in range(MESSAGES_PER_LICENSE)]
    _produce(bootstrap, topics.usage, messages)

    crashed = _spawn_crashing_sink(2, tmp_path / "sink1.log", env)
    assert crashed.wait(180) == -9, (tmp_path / "sink1.log").read_text()[-3000:]
    assert not _all_committed(bootstrap, kafka_env["METERSTREAM_SINK_GROUP"], topics.usage, topics.partitions)
    assert "wrote flush 2:" in (tmp_path / "sink1.log").read_text()  # killed after writing, before committing

    # The producer replays a spool: the same events of five messages, regrouped into new messages.
    replay = []
    for lic, cols in messages[:5]:
        replay += [(lic, {k: v[:30] for k, v in cols.items()}), (lic, {k: v[30:] for k, v in cols.items()})]
    _produce(bootstrap, topics.usage, replay)

    sink = spawn(["sink"], tmp_path / "sink2.log", env)
    try:
        wait_for(lambda: _all_committed(bootstrap, kafka_env["METERSTREAM_SINK_GROUP"], topics.usage,
                                        topics.partitions), 180, interval=1, what="all offsets committed")
    finally:
        assert terminate(sink) == 0, (tmp_path / "sink2.log").read_text()[-3000:]

    sent = LICENSES * MESSAGES_PER_LICENSE * PER_MESSAGE
    raw = _sql(url, "SELECT count() AS n, uniqExact(event_id) AS ids, sum(quantity) AS q FROM usage_events")[0]
    assert (raw["n"], raw["ids"], Decimal(raw["q"])) == (sent, sent, Decimal("1.5") * sent)
    expected_ids = sorted(e for _, cols in messages for e in cols["event_id"])
    got = _sql(url, "SELECT groupArray(toString(event_id)) AS ids FROM (SELECT event_id FROM usage_events "
                    "ORDER BY event_id)")[0]["ids"]
    assert sorted(got) == sorted(str(uuid.UUID(e)) for e in expected_ids)
    for table in ("usage_hourly", "usage_daily", "usage_monthly"):
        r = _sql(url, f"SELECT sum(events) AS n, sum(quantity) AS q FROM {table}")[0]
        assert (r["n"], Decimal(r["q"])) == (sent, Decimal("1.5") * sent), table
    per_license = _sql(url, "SELECT license_id, sum(events) AS n, uniqExactMerge(hardware) AS hw FROM usage_monthly "
                            "GROUP BY license_id")
    assert {r["license_id"]: (r["n"], r["hw"]) for r in per_license} == {
        f"lic-{i:02d}": (MESSAGES_PER_LICENSE * PER_MESSAGE, 3) for i in range(LICENSES)}
    table = subprocess.run([sys.executable, "-m", "meterstream.cli", "sql", "--url", url, "--query",
                            "top_licenses_by_usage", "--param", "start=2026-04-01 00:00:00", "--param",
                            "end=2026-04-02 00:00:00", "--param", "metric=input_tokens", "--param", "top=3"],
                           capture_output=True, text=True, timeout=120, check=True).stdout.splitlines()
    assert table[0].split() == ["license_id", "events", "quantity", "cost"] and table[-1] == "(3 rows)"
    assert table[2].split()[1:3] == [str(MESSAGES_PER_LICENSE * PER_MESSAGE), "1500.000000"]
    _check_evidence(url, env, topics, expected_ids, tmp_path)


def _topic_size(bootstrap: str, topic: str) -> int:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"size-{uuid.uuid4().hex[:6]}"})
    try:
        low, high = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        return int(high - low)
    finally:
        c.close()


def _messages_in(bootstrap: str, topic: str) -> int:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"size-{uuid.uuid4().hex[:6]}"})
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        return sum(h - lo for lo, h in (c.get_watermark_offsets(TopicPartition(topic, p), timeout=10) for p in parts))
    finally:
        c.close()


def _meterstream(env: dict[str, str], *args: str) -> str:
    return subprocess.run([sys.executable, "-m", "meterstream.cli", *args], capture_output=True, text=True,
                          timeout=120, check=True, env={**os.environ, **env}).stdout


def _check_evidence(url: str, env: dict[str, str], topics, expected_ids: list[str], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The evidence log survived the same crash: every message stored is a leaf exactly once, its body holds
    the events sent, and a bundle verifies."""
    leaves = _sql(url, f"SELECT count() AS n, uniqExact(log, kafka_offset) AS at, groupArray(hex(body)) AS bodies "
                       f"FROM evidence_leaves WHERE log LIKE '{topics.usage}/%'")[0]
    assert leaves["n"] == leaves["at"] == _messages_in(env["METERSTREAM_KAFKA_BOOTSTRAP_SERVERS"], topics.usage)
    codec = BatchCodec()
    logged = [i for b in leaves["bodies"]
              for i in codec.decode(MAGIC + codec.schema.fingerprint + bytes.fromhex(b)).columns["event_id"]]
    assert set(logged) == set(expected_ids)  # every event sent is in a logged message (replays in theirs too)
    unlogged = _sql(url, f"SELECT count() AS n FROM usage_events WHERE kafka_topic = '{topics.usage}' AND "
                         f"(concat(kafka_topic, '/', toString(kafka_partition)), kafka_offset) NOT IN "
                         f"(SELECT log, kafka_offset FROM evidence_leaves)")[0]["n"]
    assert unlogged == 0  # every stored event's message has its leaf
    stored = _sql(url, "SELECT count() AS n FROM evidence_checkpoints")[0]["n"]
    assert stored >= 1  # signed while the sink ran (every 2,000 leaves) and when it stopped
    assert _topic_size(env["METERSTREAM_KAFKA_BOOTSTRAP_SERVERS"], topics.evidence_checkpoints) >= 1  # for witnesses
    _meterstream(env, "evidence", "checkpoint")
    bundle = tmp_path / "bundle.json"
    _meterstream(env, "evidence", "export", "--license", "lic-03", "--from", "2026-04-01", "--to", "2026-04-02",
                 "--out", str(bundle))
    key = _meterstream(env, "evidence", "key", "public").strip()
    out = subprocess.run([sys.executable, "-m", "meterstream.sinks.evidence.verify", str(bundle), "--public-key", key],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.startswith("OK: "), out
    with open(bundle, encoding="utf-8") as f:
        proved = {r["event_id"] for e in json.load(f)["entries"] for r in e["records"]}
    stored = {r["id"] for r in _sql(url, "SELECT toString(event_id) AS id FROM usage_events WHERE license_id = 'lic-03'")}
    assert proved == stored and len(stored) == MESSAGES_PER_LICENSE * PER_MESSAGE

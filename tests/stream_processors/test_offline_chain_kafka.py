"""Signed offline usage end to end: a machine meters with no broker for a while, then uploads through its
spool; a real worker verifies every link, counts every event once, and alerts on a replayed or altered batch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from meterstream.process import get_json
from meterstream.producers import Meter
from meterstream.producers.protect.export import export_license_file
from meterstream.producers.protect.keys import VendorKeys, machine_key, public_bytes
from meterstream.producers.spool import SUFFIX, ScanStats, scan
from meterstream.stream_processors.license.terms import grants
from tests.helpers import wait_for
from tests.stream_processors.conftest import read_alerts
from tests.stream_processors.factory import terms

pytestmark = pytest.mark.integration


def _meter(bootstrap: str, prefix: str, deployment: dict[str, Any], batches: int) -> None:
    with Meter(kafka_bootstrap_servers=bootstrap, topic_prefix=prefix, model="llama", model_version="3.1.0",
               linger_ms=60_000, batch_max_events=5, **deployment) as m:
        for _ in range(batches * 5):
            m.record("acme-off", "output_tokens", 10)
        if bootstrap.endswith(":1"):
            m.close(timeout=0.5)  # offline: the batches stay in the spool


def test_offline_then_upload_verified_counted_once(start_worker: Any, admin: Any, kafka_bootstrap: str,
                                                   topics: Any, tmp_path: Path) -> None:
    vendor = VendorKeys(tmp_path / "vendor")
    vendor.generate()
    lic = admin.publish(terms("acme-off", models=grants("llama=major:3")))
    key_file = tmp_path / "machine.key"
    text = export_license_file(lic, vendor, ttl_s=86400, machine_key=public_bytes(machine_key(key_file)))
    (tmp_path / "acme.lic").write_text(text)
    deployment = {"license_file": tmp_path / "acme.lic", "machine_key_file": key_file,
                  "spool_dir": tmp_path / "spool"}
    worker = start_worker("w1", {"METERSTREAM_PROCESSOR_TRUSTED_KEYS_DIR": str(vendor.dir)})

    _meter("127.0.0.1:1", topics.topic_prefix, deployment, 3)      # days offline, in short
    first = next(r for p in sorted(deployment["spool_dir"].glob(f"*{SUFFIX}"))
                 for r in scan(p.read_bytes(), int(p.stem), ScanStats()))
    _meter(kafka_bootstrap, topics.topic_prefix, deployment, 2)    # online: replays the spool, then 2 more

    raw = Producer({"bootstrap.servers": kafka_bootstrap})
    raw.produce(topics.usage, first.value, first.key, headers=first.headers)  # the first batch replayed
    altered = first.value.replace(b"3.1.0", b"3.0.9", 1)
    raw.produce(topics.usage, altered, first.key, headers=first.headers)      # ... and altered
    assert raw.flush(30) == 0

    def counted() -> dict[str, Any] | None:
        try:
            t = get_json(f"{worker.url}/totals/acme-off/")
        except OSError:  # 503 until the worker has state for the license
            return None
        return t if t["events"] >= 25 else None
    totals = wait_for(counted, 120, interval=1, what="the uploaded events counted")
    alerts = [a for _, a in read_alerts(kafka_bootstrap, topics, idle=2.0)
              if a["kind"].startswith("offline_chain")]
    kinds = sorted((a["kind"], a["severity"], a["evidence"]["index"]) for a in alerts)
    assert kinds == [("offline_chain_invalid", "critical", "0"), ("offline_chain_replay", "info", "0")]
    assert get_json(f"{worker.url}/totals/acme-off/")["events"] == 25  # 5 batches, each counted once
    assert totals["events"] == 25

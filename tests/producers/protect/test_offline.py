"""Signed offline usage: batches metered while Kafka is unreachable are chained and signed in the spool;
the processor's verifier finds a dropped, altered, replayed or forged batch, and usage counts once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from meterstream.producers import Meter
from meterstream.producers.protect import errors as e
from meterstream.producers.protect.fingerprint import read_fingerprint
from meterstream.producers.protect.keys import VendorKeys, machine_key, public_bytes, public_line
from meterstream.producers.protect.offline import CERT, LINK, SIG
from meterstream.producers.spool import SUFFIX, ScanStats, SpoolRecord, scan
from meterstream.schemas import BatchCodec
from meterstream.stream_processors import offline_chain
from meterstream.stream_processors.metering import FIELDS, MeteringRules, apply_message

from .conftest import MACHINE, Vendor, terms


@pytest.fixture
def deployment(vendor: Vendor, tmp_path: Path) -> dict[str, Any]:
    """A machine key, and a license file registering it."""
    key_file = tmp_path / "machine.key"
    public = public_bytes(machine_key(key_file))
    text = vendor.export(terms(), machine_key=public, ttl_s=30 * 86400)
    (tmp_path / "acme.lic").write_text(text)
    return {"license_file": tmp_path / "acme.lic", "machine_key_file": key_file, "spool_dir": tmp_path / "spool"}


def meter_offline(deployment: dict[str, Any], batches: int, per_batch: int = 5) -> None:
    """Meter ``batches`` batches with no broker reachable; they stay in the spool."""
    m = Meter(kafka_bootstrap_servers="127.0.0.1:1", model="llama", model_version="3.1.0",
              linger_ms=60_000, batch_max_events=per_batch, **deployment)
    for _ in range(batches * per_batch):
        m.record("acme", "output_tokens", 10)
    m.close(timeout=0.5)


def spooled(spool_dir: Path) -> list[SpoolRecord]:
    return [r for p in sorted(spool_dir.glob(f"*{SUFFIX}"))
            for r in scan(p.read_bytes(), int(p.stem), ScanStats())]


def judge(records: list[SpoolRecord], trusted: Any) -> tuple[list[dict[str, Any]], int]:
    """(alerts, events counted) when the processor receives ``records`` in this order."""
    chains = offline_chain.OfflineChains({}, trusted)
    state, counted, alerts, codec = None, 0, [], BatchCodec()
    for offset, rec in enumerate(records):
        found, new = chains.check(rec.key, rec.headers, rec.value, offset)
        alerts += found
        if new is not None:
            chains.save(rec.key, new)
        cols = codec.decode(rec.value, fields=FIELDS).columns
        state, applied = apply_message(state, "acme", None, offset, cols, MeteringRules(), flag_unknown=False)
        counted += applied.counted
    return alerts, counted


def test_offline_batches_are_chained_signed_and_verify(deployment: dict[str, Any], vendor: Vendor) -> None:
    meter_offline(deployment, 4)
    records = spooled(deployment["spool_dir"])
    assert len(records) == 4
    assert all({LINK, SIG, CERT} <= dict(r.headers).keys() for r in records)
    alerts, counted = judge(records, vendor.keys.trusted())
    assert alerts == [] and counted == 20


def test_hardware_id_defaults_to_the_fingerprint(deployment: dict[str, Any], vendor: Vendor) -> None:
    meter_offline(deployment, 1)
    cols = BatchCodec().decode(spooled(deployment["spool_dir"])[0].value, fields=("hardware_id",)).columns
    assert set(cols["hardware_id"]) == {read_fingerprint().id}


def test_restart_continues_the_chain(deployment: dict[str, Any], vendor: Vendor) -> None:
    meter_offline(deployment, 2)
    meter_offline(deployment, 2)
    records = spooled(deployment["spool_dir"])
    assert [offline_chain.json.loads(dict(r.headers)[LINK])["i"] for r in records] == [0, 1, 2, 3]
    assert judge(records, vendor.keys.trusted()) == ([], 20)


def _kinds(alerts: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(a["kind"], a["severity"]) for a in alerts]


def test_dropped_batch_raises_a_gap_with_evidence(deployment: dict[str, Any], vendor: Vendor) -> None:
    meter_offline(deployment, 4)
    records = spooled(deployment["spool_dir"])
    alerts, counted = judge(records[:1] + records[2:], vendor.keys.trusted())
    assert _kinds(alerts) == [("offline_chain_gap", "critical")]
    assert alerts[0]["evidence"]["missing_from"] == alerts[0]["evidence"]["missing_to"] == "1"
    assert counted == 15  # what arrived counts; the sequence gap is the sequence tracker's alert


def test_altered_batch_is_refused_as_invalid_and_counted_once(deployment: dict[str, Any], vendor: Vendor) -> None:
    meter_offline(deployment, 3)
    records = spooled(deployment["spool_dir"])
    rec = records[1]
    altered = rec.value.replace(b"3.1.0", b"3.0.9", 1)  # the batch changed after signing, still decodes
    assert altered != rec.value and BatchCodec().decode(altered).count == 5
    records[1] = SpoolRecord(rec.pos, rec.key, altered, rec.headers)
    alerts, counted = judge(records, vendor.keys.trusted())
    # the altered batch is no link of the chain, so the chain also misses its index 1 until a genuine copy comes
    assert _kinds(alerts) == [("offline_chain_invalid", "critical"), ("offline_chain_gap", "critical")]
    assert "body hash differs" in alerts[0]["evidence"]["reason"] and counted == 15
    genuine_later, _ = judge(records + [rec], vendor.keys.trusted())
    assert _kinds(genuine_later)[-1:] == [("offline_chain_gap", "critical")]  # the genuine copy fills the gap


def test_replayed_batch_raises_replay_and_is_not_counted_again(deployment: dict[str, Any], vendor: Vendor) -> None:
    meter_offline(deployment, 3)
    records = spooled(deployment["spool_dir"])
    alerts, counted = judge(records + [records[0]], vendor.keys.trusted())
    assert _kinds(alerts) == [("offline_chain_replay", "info")]  # byte-identical: a re-send
    assert alerts[0]["evidence"]["identical"] == "True" and counted == 15


def test_forged_certificate_or_machine_key_is_invalid(deployment: dict[str, Any], vendor: Vendor,
                                                      tmp_path: Path) -> None:
    meter_offline(deployment, 1)
    rec = spooled(deployment["spool_dir"])[0]
    other = VendorKeys(tmp_path / "other")
    other.generate()
    alerts, _ = judge([rec], other.trusted())
    assert "untrusted key" in alerts[0]["evidence"]["reason"]
    stranger = machine_key(tmp_path / "stranger.key")
    headers = dict(rec.headers)
    headers[SIG] = stranger.sign(b"meterstream-chain/v1|" + headers[LINK])
    alerts, _ = judge([SpoolRecord(rec.pos, rec.key, rec.value, list(headers.items()))], vendor.keys.trusted())
    assert "not signed by the registered machine key" in alerts[0]["evidence"]["reason"]
    assert _kinds(alerts) == [("offline_chain_invalid", "critical")]


def test_a_key_not_registered_in_the_license_file_is_refused(deployment: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(e.ProtectError, match="not the one the license file registers"):
        meter_offline({**deployment, "machine_key_file": tmp_path / "new.key"}, 1)
    assert public_line(public_bytes(machine_key(tmp_path / "new.key"))).startswith("ed25519 ")


def test_redelivered_message_is_not_judged_twice(deployment: dict[str, Any], vendor: Vendor) -> None:
    meter_offline(deployment, 1)
    rec = spooled(deployment["spool_dir"])[0]
    chains = offline_chain.OfflineChains({}, vendor.keys.trusted())
    alerts, state = chains.check(rec.key, rec.headers, rec.value, 7)
    assert alerts == [] and state is not None
    chains.save(rec.key, state)
    assert chains.check(rec.key, rec.headers, rec.value, 7) == ([], None)
    assert MACHINE  # the license file is machine-bound; the chain does not need the fingerprint

"""The verifier on one-leaf-per-message usage (usage.batch.v2): real producer bodies, a signed tree, tampering."""

from __future__ import annotations

import base64
import copy
import io
import json
import random
import shutil
import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastavro import schemaless_writer

from meterstream.schemas import BatchCodec
from meterstream.schemas.codec import column_kind, encode_column, event_defaults
from meterstream.schemas.registry import USAGE_EVENT, default_registry
from meterstream.schemas.resolve import BatchResolver
from meterstream.sinks.evidence import merkle, verify
from meterstream.sinks.evidence.signing import Signer
from meterstream.sinks.evidence.verify import (BATCH_KINDS, BUNDLE_FORMAT, LEAF_SPECS, UUID_FIELDS, EventLeaves, Failure,
                                               VerifierKey, avro_fields, decode_batch, leaf_bytes, leaf_hash, main,
                                               verify_bundle)

KIND = "usage.batch.v2"
PREFIX, EVENT_KIND = BATCH_KINDS[KIND]
LIC = "lic-ü-1"
LOG = "test.meterstream/t.usage/0"
T0 = 1_777_600_000_000_000  # 2026-05-01 UTC, microseconds
DEFAULTS = event_defaults(default_registry())  # what a v1 message's events hold in the fields v2 added


def columns(n: int, license_id: str = LIC, t0: int = T0) -> dict[str, list[Any]]:
    """v2 columns with nulls, non-ASCII text, data categories, varied and repeated values (quantity unscaled)."""
    return {
        "event_id": [str(uuid.uuid4()) for _ in range(n)], "event_time": [t0 + 1000 * i for i in range(n)],
        "license_id": [license_id] * n, "producer_id": ["p-1"] * n, "sequence": list(range(n)),
        "feature": ["résumé"] * n, "model": ["m"] * n,
        "model_version": ["1.0.0", "1.0.1"] * (n // 2) + ["1"] * (n % 2),
        "metric": ["output_tokens"] * n, "quantity": [i * 1_000_001 for i in range(n - 1)] + [10**18 - 1],
        "status": ["ok"] * n, "latency_us": [None if i % 2 else i * 1000 for i in range(n)],
        "team": ["t"] * n, "app": ["チャット"] * n, "environment": ["prod"] * n, "purpose": [""] * n,
        "hardware_id": ["gpu-0"] * n, "region": ["eu"] * n, "input_hash": [None] * n, "output_hash": ["a" * 64] * n,
        "provider": ["aws.bedrock"] * n, "source": ["library"] * n, "user_id": [f"u{i % 3}" for i in range(n)],
        "use_case": ["uc-ü"] * n, "data_categories": [[], ["pii"], ["pii", "phi"]] * (n // 3) + [["ü"]] * (n % 3),
        "sensitivity": ["confidential"] * n, "trace_id": [None if i % 2 else f"{i:032x}" for i in range(n)],
        "stage": ["retrieve"] * n, "decision_id": [f"d-{i}" for i in range(n)], "reservation_id": [None] * n,
    }


def records(cols: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """The stored records of a batch as the exporter shows them (UUID lowercase, quantity with 6 decimals)."""
    out = []
    for i in range(len(cols["event_id"])):
        r = {name: cols[name][i] if name in cols else DEFAULTS[name] for name, _ in LEAF_SPECS[EVENT_KIND][1]}
        r["event_id"] = str(uuid.UUID(r["event_id"]))
        r["quantity"] = f"{Decimal(r['quantity']).scaleb(-6):.6f}"
        r["data_categories"] = list(r["data_categories"])
        out.append(r)
    return out


def body_of(cols: dict[str, list[Any]]) -> bytes:
    return BatchCodec().encode(cols)[10:]  # the message without its single-object header


class Log:
    """A tiny log: leaves appended, signed at its size, and the bundle of chosen entries with their proofs."""

    def __init__(self) -> None:
        self.signer = Signer(Ed25519PrivateKey.generate(), "test.meterstream")
        self.leaves: list[bytes] = [leaf_hash(b"someone else's message")]
        self.entries: list[dict[str, Any]] = []

    def add(self, body: bytes, recs: list[Any], offset: int | None = None) -> dict[str, Any]:
        events = decode_batch(EVENT_KIND, body)
        index = len(self.leaves)
        self.leaves.append(leaf_hash(PREFIX + body))
        entry = {"log": LOG, "index": index, "kind": KIND, "id": str(offset if offset is not None else index),
                 "time": min(e["event_time"] for e in events), "body": base64.b64encode(body).decode(),
                 "records": recs, "not_covered": [None] * len(recs)}
        self.entries.append(entry)
        self.leaves.append(leaf_hash(b"a message of another license"))
        return entry

    def bundle(self, retained_from: int | None = None) -> dict[str, Any]:
        size, hashes = len(self.leaves), self.leaves
        subtree = lambda lo, hi: merkle.mth(hashes[lo:hi])  # noqa: E731
        entries = [dict(e, leaf_hash=base64.b64encode(hashes[e["index"]]).decode(),
                        inclusion=[base64.b64encode(h).decode() for h in merkle.inclusion_proof(e["index"], size,
                                                                                                 subtree)])
                   for e in self.entries]
        return {"format": BUNDLE_FORMAT, "logs": [{"origin": LOG, "checkpoint": self.signer.checkpoint(
                    LOG, size, merkle.mth(hashes)), "earlier": []}],
                "scope": {"license": LIC, "from": "2026-05-01", "to": "2026-06-01", "retained_from": retained_from},
                "entries": json.loads(json.dumps(entries))}

    def verify(self, bundle: dict[str, Any]) -> str:
        return verify_bundle(bundle, VerifierKey.parse(self.signer.vkey()))


def fastavro_body(cols: dict[str, list[Any]]) -> bytes:
    """The same batch written by fastavro: one block per array with a positive count."""
    buf = io.BytesIO()
    record = dict(cols, quantity=[Decimal(q).scaleb(-6) for q in cols["quantity"]])
    schemaless_writer(buf, BatchCodec().schema.parsed, record)
    return buf.getvalue()


def several_blocks_body(cols: dict[str, list[Any]]) -> bytes:
    """Each array in three blocks: positive count (fastavro), negative count with size (producer), one item."""
    out = b""
    for f in BatchCodec().schema.schema["fields"]:
        kind, vals = column_kind(f["type"]["items"]), cols[f["name"]]
        first = io.BytesIO()
        items = [Decimal(q).scaleb(-6) for q in vals[:2]] if f["name"] == "quantity" else vals[:2]
        schemaless_writer(first, {"type": "array", "items": f["type"]["items"]}, items)
        out += first.getvalue()[:-1] + encode_column(kind, vals[2:-1])[:-1] + encode_column(kind, vals[-1:])
    return out


@pytest.fixture
def log() -> Log:
    return Log()


def _fails(log: Log, bundle: dict[str, Any], match: str) -> str:
    with pytest.raises(Failure, match=match) as info:
        log.verify(bundle)
    return str(info.value)


# -- the reader agrees with the schema and with the producer's codec ---------------------------------------------

def _plain(avro_type: Any) -> Any:
    """An .avsc field type without what the verifier does not read: logical types of strings and longs."""
    if isinstance(avro_type, list):
        return [_plain(t) for t in avro_type]
    if isinstance(avro_type, dict) and avro_type.get("logicalType") in ("uuid", "timestamp-micros"):
        return avro_type["type"]
    if isinstance(avro_type, dict) and avro_type["type"] == "array":
        return {"type": "array", "items": _plain(avro_type["items"])}
    return avro_type


def test_the_readers_field_types_are_the_schemas() -> None:
    schema = next(v for v in default_registry().versions(USAGE_EVENT) if v.version == 2).schema
    assert avro_fields(EVENT_KIND) == [(f["name"], _plain(f["type"])) for f in schema["fields"]]
    assert UUID_FIELDS[EVENT_KIND] == {f["name"] for f in schema["fields"]
                                       if isinstance(f["type"], dict) and f["type"].get("logicalType") == "uuid"}


@pytest.mark.parametrize("writer", ["codec", "fastavro", "several blocks", "v1 resolved"])
def test_decoded_events_are_what_the_producers_codec_decodes(writer: str) -> None:
    cols = columns(7)
    if writer == "v1 resolved":
        v1 = BatchCodec(version=1)
        body = BatchResolver().body(v1.encode({k: cols[k] for k in v1.schema.field_names}))
    else:
        body = {"codec": body_of, "fastavro": fastavro_body, "several blocks": several_blocks_body}[writer](cols)
    expected = BatchCodec().decode(BatchCodec().header + body)
    events = decode_batch(EVENT_KIND, body)
    assert len(events) == expected.count == 7
    for event, row in zip(events, expected.rows()):
        assert event == {**row, "quantity": Decimal(row["quantity"]).scaleb(-6),
                         "data_categories": list(row["data_categories"])}


def test_an_empty_batch_has_no_events() -> None:
    assert decode_batch(EVENT_KIND, b"\x00" * len(avro_fields(EVENT_KIND))) == []


@pytest.mark.parametrize("body, match", [
    (b"", "field event_id: truncated"),
    (b"\x7e\x00", "field event_id: block of 63 items at byte 1 runs past the end"),
    (b"\x01\x10\x02a", "field event_id: block of 8 bytes at byte 2 runs past the end"),
    (b"\xff" * 11, "varint longer than 10 bytes"),
    (b"\x02\x04\xff\xfe\x00", "field event_id: string at byte 1 is not UTF-8"),
    (b"\x01\x06\x02a\x02b\x00", "block at byte 2 says 3 bytes, its items take 2"),
])
def test_garbage_is_named_not_a_traceback(body: bytes, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        decode_batch(EVENT_KIND, body)


def test_trailing_bytes_unequal_arrays_and_bad_unions_are_named() -> None:
    body = body_of(columns(4))
    with pytest.raises(ValueError, match="2 trailing bytes"):
        decode_batch(EVENT_KIND, body + b"\x00\x00")
    short = columns(4)
    fields = BatchCodec().schema.schema["fields"]
    mixed = b"".join(encode_column(column_kind(f["type"]["items"]) or "", short[f["name"]][:3 if f["name"] == "team"
                                                                                           else 4]) for f in fields)
    with pytest.raises(ValueError, match="different numbers of events: .*'team': 3"):
        decode_batch(EVENT_KIND, mixed)
    latency_at = b"".join(encode_column(column_kind(f["type"]["items"]) or "", short[f["name"]]) for f in fields[:11])
    with pytest.raises(ValueError, match="field latency_us: union branch 2"):
        decode_batch(EVENT_KIND, latency_at + b"\x01\x02\x04\x02\x00")


def test_every_truncation_and_byte_flip_fails_with_a_failure(log: Log) -> None:
    cols = columns(3)
    body = body_of(cols)
    log.add(body, records(cols))
    good = log.bundle()
    rng = random.Random(16)
    for cut in range(len(body)):
        bad = copy.deepcopy(good)
        bad["entries"][0]["body"] = base64.b64encode(body[:cut]).decode()
        del bad["entries"][0]["leaf_hash"]
        _fails(log, bad, "its body is not a usage.batch.v2 message|records for the|differs|inclusion proof")
    for pos in rng.sample(range(len(body)), 60):
        bad = copy.deepcopy(good)
        flipped = bytearray(body)
        flipped[pos] ^= 1 << rng.randrange(8)
        bad["entries"][0]["body"] = base64.b64encode(bytes(flipped)).decode()
        del bad["entries"][0]["leaf_hash"]
        with pytest.raises(Failure):
            log.verify(bad)


# -- whole bundles ------------------------------------------------------------------------------------------------

def _three_messages(log: Log) -> dict[str, Any]:
    """A producer batch (event ids in capitals), a fastavro-written one and a resolved v1 one, all verified."""
    a, b, c = columns(5), columns(4, t0=T0 + 10**9), columns(6, t0=T0 + 2 * 10**9)
    upper = dict(a, event_id=[i.upper() for i in a["event_id"]])
    log.add(body_of(upper), records(a), offset=10)
    log.add(fastavro_body(b), records(b), offset=11)
    v1 = BatchCodec(version=1)
    c1 = {k: c[k] for k in v1.schema.field_names}
    log.add(BatchResolver().body(v1.encode(c1)), records(c1), offset=12)
    return log.bundle()


def test_an_untampered_bundle_verifies(log: Log, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bundle = _three_messages(log)
    assert log.verify(bundle) == f"OK: 3 entries (15 events) verified against 1 signed log(s): {LOG} size 7"
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    assert main([str(path), "--public-key", log.signer.vkey()]) == 0
    bundle["entries"][1]["records"][0]["model"] = "x"
    path.write_text(json.dumps(bundle))
    assert main([str(path), "--public-key", log.signer.vkey()]) == 1
    assert "FAIL: entry 2 (usage.batch.v2 11" in capsys.readouterr().out


def _tampered(log: Log, change: str) -> dict[str, Any]:
    bundle = _three_messages(log)
    entry = bundle["entries"][1]
    recs = entry["records"]
    if change == "flip a body byte":
        body = bytearray(base64.b64decode(entry["body"]))
        body[len(body) // 2] ^= 0x01
        entry["body"] = base64.b64encode(bytes(body)).decode()
    elif change == "change one field":
        recs[2]["quantity"] = "7.000001"
    elif change == "null a record":
        recs[2] = None
    elif change == "swap two records":
        recs[1], recs[2] = recs[2], recs[1]
    elif change == "drop a record":
        recs.pop()
    elif change == "record of another license":
        recs[2]["license_id"] = "lic-other"
    elif change == "wrong leaf_hash":
        entry["leaf_hash"] = bundle["entries"][0]["leaf_hash"]
    elif change == "wrong inclusion proof":
        entry["inclusion"] = bundle["entries"][0]["inclusion"]
    elif change == "no body":
        del entry["body"]
    elif change == "truncated body":
        entry["body"] = base64.b64encode(base64.b64decode(entry["body"])[:-3]).decode()
        del entry["leaf_hash"]
    return bundle


@pytest.mark.parametrize("change, message", [
    ("flip a body byte", r"entry 2 \(usage.batch.v2 11, log .* leaf 3\): the message differs from the leaf the log "
                         "holds at its position$"),
    ("change one field", r"entry 2 .*: records\[2\] \(event [0-9a-f-]{36}\): the stored record differs from the "
                         r"event the log holds \(changed after it was logged\)$"),
    ("null a record", r"entry 2 .*: records\[2\] \(event .*\): the record is missing from the store \(deleted\)$"),
    ("swap two records", r"entry 2 .*: records\[1\] \(event .*\): the stored record differs from the event"),
    ("drop a record", r"entry 2 .*: 3 records for the 4 events of its message"),
    ("record of another license", r"records\[2\] .*: the stored record belongs to license lic-other, not lic-ü-1$"),
    ("wrong leaf_hash", r"entry 2 .*: the message differs from the leaf the log holds at its position$"),
    ("wrong inclusion proof", r"entry 2 .*: its inclusion proof does not lead to the signed root of size 7"),
    ("no body", r"entry 2 .*: its message body is missing or not base64$"),
    ("truncated body", r"entry 2 .*: its body is not a usage.batch.v2 message: field reservation_id: "),
])
def test_each_tampering_is_named(log: Log, change: str, message: str) -> None:
    _fails(log, _tampered(log, change), message)


def test_a_rewritten_body_with_matching_records_fails_on_the_proof_alone(log: Log) -> None:
    """An operator who rewrites the message, its records and the stored leaf hash is caught by the signed root."""
    cols = columns(4)
    log.add(body_of(cols), records(cols))
    bundle = log.bundle()
    forged = dict(cols, quantity=[q + (i == 1) for i, q in enumerate(cols["quantity"])])
    entry = bundle["entries"][0]
    entry.update(body=base64.b64encode(body_of(forged)).decode(), records=records(forged),
                 leaf_hash=base64.b64encode(leaf_hash(PREFIX + body_of(forged))).decode())
    _fails(log, bundle, r"entry 1 .*: its inclusion proof does not lead to the signed root")


def test_an_event_of_another_license_in_the_message_fails(log: Log) -> None:
    cols = columns(3, license_id="lic-other")
    log.add(body_of(cols), records(cols))
    _fails(log, log.bundle(), r"records\[0\] .*: the log holds an event of license lic-other here, not lic-ü-1$")


def test_records_removed_by_retention_are_counted_not_failed(log: Log) -> None:
    cols = columns(4)
    recs = records(cols)
    recs[0] = recs[1] = None
    log.add(body_of(cols), recs)
    assert log.verify(log.bundle(retained_from=T0 + 1500)) == (
        f"OK: 1 entries (2 events) verified, 2 events removed by retention against 1 signed log(s): {LOG} size 3")
    _fails(log, log.bundle(retained_from=T0 + 500), r"records\[1\] .*: the record is missing from the store")
    _fails(log, log.bundle(), r"records\[0\] .*: the record is missing from the store \(deleted\)")


def test_per_event_entries_beside_batch_entries_keep_their_wording(log: Log) -> None:
    cols = columns(2)
    log.add(body_of(cols), records(cols))
    rec = records(columns(1))[0]
    log.entries.append({"log": LOG, "index": len(log.leaves), "kind": EVENT_KIND, "id": rec["event_id"],
                        "time": rec["event_time"], "record": rec, "not_covered": None})
    log.leaves.append(leaf_hash(leaf_bytes(EVENT_KIND, rec)))
    assert log.verify(log.bundle()).startswith("OK: 2 entries (2 events) verified against 1 signed log(s)")


def test_a_copy_of_the_one_file_verifies_without_meterstream_or_site_packages(log: Log, tmp_path: Path) -> None:
    """What an auditor runs: verify.py copied alone, Python without site-packages (the standard library only)."""
    shutil.copy(verify.__file__, tmp_path / "verify.py")
    (tmp_path / "bundle.json").write_text(json.dumps(_three_messages(log)))
    run = subprocess.run([sys.executable, "-I", "-S", "verify.py", "bundle.json", "--public-key", log.signer.vkey()],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert (run.returncode, run.stderr) == (0, "")
    assert run.stdout.startswith("OK: 3 entries (15 events) verified against 1 signed log(s)")


def test_the_batchs_leaf_encoder_writes_leaf_bytes() -> None:
    """EventLeaves computes a repeated field's bytes once: never different bytes from leaf_bytes, whatever the types."""
    cols = columns(6)
    odd = [dict(records(cols)[0], team=team, sequence=seq, latency_us=lat, quantity=q)
           for team, seq, lat, q in [(1, True, 1.0, Decimal("0.5")), (1.0, 1, 1, "0.500000"), ("1", 1.0, True, 0.5),
                                     (True, 1, None, "0.5")]]
    recs = records(cols) + odd
    recs[1]["event_id"] = recs[1]["event_id"].upper()
    leaves = EventLeaves(EVENT_KIND)
    for rec in recs + decode_batch(EVENT_KIND, body_of(cols)) + recs:
        expected = leaf_bytes(EVENT_KIND, dict(rec, event_id=str(uuid.UUID(rec["event_id"]))))
        assert leaves(rec) == expected
    assert len({leaves(r) for r in odd}) == 3  # team 1.0 and True are text "1.0" and "True", not the cached "1"

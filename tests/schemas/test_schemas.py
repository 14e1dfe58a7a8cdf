"""Schemas load once, evolve compatibly, and the fast batch codec speaks plain Avro."""

from __future__ import annotations

import io
import uuid
from decimal import Decimal

import pytest
from fastavro import schemaless_reader, schemaless_writer
from fastavro.utils import generate_many

from meterstream.schemas import BatchCodec, DecodeError, RecordCodec, UnknownSchemaError, default_registry
from meterstream.schemas.codec import read_long, zz
from meterstream.schemas.registry import ALERT, LICENSE, USAGE_BATCH, USAGE_EVENT

SUBJECTS = [USAGE_EVENT, USAGE_BATCH, LICENSE, ALERT]


def sample_columns(n: int = 5) -> dict[str, list]:
    return {
        "event_id": [str(uuid.uuid4()) for _ in range(n)],
        "event_time": [1_763_800_000_000_000 + i for i in range(n)],
        "license_id": ["lic-1"] * n, "producer_id": ["p"] * n, "sequence": list(range(n)),
        "feature": ["chat"] * n, "model": ["m"] * n, "model_version": ["1.0.0", "1.0.1"] * (n // 2) + ["1"] * (n % 2),
        "metric": ["output_tokens"] * n, "quantity": [i * 1_000_001 - 3 for i in range(n)],
        "status": ["ok"] * n, "latency_us": [None if i % 2 else i * 1000 for i in range(n)],
        "team": ["t"] * n, "app": ["a"] * n, "environment": ["prod"] * n, "purpose": [""] * n,
        "hardware_id": ["gpu-ü"] * n, "region": ["eu"] * n, "input_hash": [None] * n, "output_hash": ["a" * 64] * n,
    }


def test_every_subject_has_a_first_version() -> None:
    reg = default_registry()
    for subject in SUBJECTS:
        assert reg.latest(subject).version >= 1


@pytest.mark.parametrize("subject", SUBJECTS)
def test_each_version_reads_data_written_by_every_earlier_one(subject: str) -> None:
    versions = default_registry().versions(subject)
    for i, reader in enumerate(versions):
        for writer in versions[: i + 1]:
            for record in generate_many(writer.schema, 20):
                buf = io.BytesIO()
                schemaless_writer(buf, writer.parsed, record)
                buf.seek(0)
                schemaless_reader(buf, writer.parsed, reader.parsed)  # raises if incompatible


def test_fingerprints_are_distinct_and_resolve() -> None:
    reg = default_registry()
    fps = [v.fingerprint for s in SUBJECTS for v in reg.versions(s)]
    assert len(set(fps)) == len(fps)
    for s in SUBJECTS:
        assert reg.by_fingerprint(reg.latest(s).fingerprint).subject == s
    with pytest.raises(UnknownSchemaError):
        reg.by_fingerprint(b"\x00" * 8)


def test_batch_codec_round_trip_and_fastavro_agrees() -> None:
    codec = BatchCodec()
    cols = sample_columns(7)
    value = codec.encode(cols)
    assert codec.decode(value).columns == cols
    record = schemaless_reader(io.BytesIO(value[10:]), codec.schema.parsed, None)
    assert record["quantity"][3] == Decimal(cols["quantity"][3]).scaleb(-6)
    assert [str(u) for u in record["event_id"]] == cols["event_id"]
    assert record["latency_us"] == cols["latency_us"]


def test_batch_codec_reads_what_fastavro_wrote() -> None:
    codec = BatchCodec()
    cols = sample_columns(4)
    record = dict(cols, quantity=[Decimal(q).scaleb(-6) for q in cols["quantity"]])
    buf = io.BytesIO()
    buf.write(codec.header)
    schemaless_writer(buf, codec.schema.parsed, record)
    assert codec.decode(buf.getvalue()).columns == cols


def test_decode_only_some_fields_skips_the_rest() -> None:
    codec = BatchCodec()
    cols = sample_columns(3)
    batch = codec.decode(codec.encode(cols), fields=["metric", "quantity"])
    assert set(batch.columns) == {"metric", "quantity"} and batch.count == 3


@pytest.mark.parametrize("cut", [0, 1, 5, 10, 11, 40, -1])
def test_truncated_or_garbage_batches_raise_decode_error(cut: int) -> None:
    codec = BatchCodec()
    value = codec.encode(sample_columns(3))
    with pytest.raises((DecodeError, UnknownSchemaError)):
        codec.decode(value[:cut])
    with pytest.raises((DecodeError, UnknownSchemaError)):
        codec.decode(b"\xc3\x01" + b"\x00" * 8 + b"garbage")


@pytest.mark.parametrize("n", [0, 1, -1, 63, -64, 64, 8191, -8192, 8192, 2**40, -(2**40), 2**63 - 1, -(2**63)])
def test_varints_match_the_avro_spec(n: int) -> None:
    buf = io.BytesIO()
    schemaless_writer(buf, "long", n)
    assert zz(n) == buf.getvalue()
    assert read_long(zz(n), 0) == (n, len(zz(n)))


def test_record_codec_round_trips_alerts() -> None:
    codec = RecordCodec(ALERT)
    alert = {"alert_id": "a1", "kind": "threshold", "license_id": "lic", "created_at": 1_763_800_000_000_000,
             "evidence": {"used": "80"}, "threshold": 80}
    out = codec.decode(codec.encode(alert))
    assert out["alert_id"] == "a1" and out["evidence"] == {"used": "80"} and out["threshold"] == 80
    with pytest.raises(UnknownSchemaError):
        RecordCodec(LICENSE).decode(codec.encode(alert))


def test_quantity_scale_is_the_schemas_decimal_scale() -> None:
    from meterstream.schemas.units import MAX_UNSCALED, SCALE_DIGITS, to_unscaled

    field = next(f for f in default_registry().latest(USAGE_EVENT).schema["fields"] if f["name"] == "quantity")
    assert field["type"]["scale"] == SCALE_DIGITS and 10 ** field["type"]["precision"] - 1 == MAX_UNSCALED
    assert to_unscaled("1.5") == 1_500_000 and to_unscaled(7) == 7_000_000
    for bad in ("1.0000001", "-1", "nan", "abc", "1e999999", True, None, 10**12):
        with pytest.raises(ValueError):
            to_unscaled(bad)

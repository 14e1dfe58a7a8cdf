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

SUBJECTS = [USAGE_EVENT, USAGE_BATCH, LICENSE, ALERT, "inventory", "policy", "policy_exception", "price_catalog",
            "budget", "spend", "alert_action"]


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
        **V2_FIELDS(n),
    }


def V2_FIELDS(n: int) -> dict[str, list]:  # noqa: N802 - reads as a constant in the column literals
    """Values of the v2 fields: repeated, varied, empty and nested arrays, nullable strings with gaps."""
    return {
        "provider": ["aws.bedrock"] * n, "source": ["library"] * n, "user_id": [f"u{i % 3}" for i in range(n)],
        "use_case": ["uc-ü"] * n, "data_categories": [(), ("pii",), ("pii", "phi")] * (n // 3) + [("x",)] * (n % 3),
        "sensitivity": ["confidential"] * n, "trace_id": [None if i % 2 else f"{i:032x}" for i in range(n)],
        "stage": ["retrieve", "generate"] * (n // 2) + ["rerank"] * (n % 2), "decision_id": ["d-1"] * n,
        "reservation_id": [None] * n,
    }


def v1_columns(n: int) -> dict[str, list]:
    """The columns of a v1 batch (what a producer of the first release writes)."""
    return {k: v for k, v in sample_columns(n).items() if k not in V2_FIELDS(0)}


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


def test_usage_event_v2_is_the_newest_and_reads_v1() -> None:
    reg = default_registry()
    assert [v.version for v in reg.versions(USAGE_EVENT)][:2] == [1, 2]
    assert [v.version for v in reg.versions(USAGE_BATCH)][:2] == [1, 2]
    assert BatchCodec().schema.version == reg.latest(USAGE_BATCH).version >= 2


def test_every_usage_version_only_appends_fields_with_defaults() -> None:
    """The rule the sink's resolution (schemas/resolve.py) and ClickHouse's name matching rely on."""
    versions = default_registry().versions(USAGE_EVENT)
    for old, new in zip(versions, versions[1:]):
        assert new.field_names[:len(old.field_names)] == old.field_names, (old.version, new.version)
        added = new.schema["fields"][len(old.field_names):]
        assert added and all("default" in f for f in added), new.version


def test_v1_batches_decode_as_v2_with_defaults_like_fastavro_resolves_them() -> None:
    v1, v2 = BatchCodec(version=1), BatchCodec()
    cols = v1_columns(6)
    value = v1.encode(cols)
    assert value[2:10] == default_registry().versions(USAGE_BATCH)[0].fingerprint
    batch = v2.decode(value)
    assert batch.writer.version == 1
    assert batch.columns == {**cols, "provider": [""] * 6, "source": [""] * 6, "user_id": [""] * 6,
                             "use_case": [""] * 6, "data_categories": [()] * 6, "sensitivity": [""] * 6,
                             "trace_id": [None] * 6, "stage": [""] * 6, "decision_id": [None] * 6,
                             "reservation_id": [None] * 6}
    record = schemaless_reader(io.BytesIO(value[10:]), v1.schema.parsed, v2.schema.parsed)
    assert record["data_categories"] == [] and record["provider"] == []  # the batch's default: no events
    assert v2.decode(value, fields=["metric", "stage"]).columns == {"metric": cols["metric"], "stage": [""] * 6}


def test_encode_fills_left_out_columns_with_defaults() -> None:
    codec, cols = BatchCodec(), v1_columns(4)
    got = codec.decode(codec.encode(cols)).columns
    assert {k: got[k] for k in cols} == cols
    assert got["provider"] == [""] * 4 and got["data_categories"] == [()] * 4 and got["trace_id"] == [None] * 4
    with pytest.raises(ValueError, match="event_id"):
        codec.encode({k: v for k, v in sample_columns(2).items() if k != "event_id"})


def test_data_categories_decode_as_tuples_whatever_sequence_was_encoded() -> None:
    codec = BatchCodec()
    cols = dict(sample_columns(50), data_categories=[["pii", "financial"]] * 50)  # one block, decoded once
    got = codec.decode(codec.encode(cols)).columns["data_categories"]
    assert got == [("pii", "financial")] * 50
    assert len({tuple(sorted(r.items())) for r in codec.decode(codec.encode(cols)).rows()}) == 50  # hashable


def test_resolver_appends_defaults_to_v1_bodies() -> None:
    from meterstream.schemas.resolve import BatchResolver

    resolver, v1, v2 = BatchResolver(), BatchCodec(version=1), BatchCodec()
    value = v1.encode(v1_columns(5))
    body = resolver.body(value)
    assert v2.decode(v2.header + body).columns == v2.decode(value).columns
    record = schemaless_reader(io.BytesIO(body), v2.schema.parsed, None)
    assert record["data_categories"] == [[]] * 5 and record["trace_id"] == [None] * 5
    current = v2.encode(sample_columns(3))
    assert resolver.body(current) == current[10:]
    with pytest.raises(UnknownSchemaError):
        resolver.body(RecordCodec(ALERT).encode({"alert_id": "a", "kind": "k", "license_id": "l",
                                                 "created_at": 0, "evidence": {}}))

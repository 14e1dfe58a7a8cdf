"""The batch encoder's fast paths write exactly what the per-value encoder writes, and fastavro reads it."""

from __future__ import annotations

import io
import random
import time
from typing import Any

import pytest
from fastavro import schemaless_reader

from meterstream.schemas import BatchCodec
from meterstream.schemas.codec import (ARR_STR, DEC, HEADER_LEN, LONG, OPT_LONG, OPT_STR, STR, _encode_items,
                                       _encode_one, decode_column, encode_column)

rng = random.Random(5)
NOW_US = time.time_ns() // 1000


def _long_cases() -> list[list[int]]:
    cases = [[NOW_US + rng.randint(0, 10**9) for _ in range(1000)], list(range(8000, 9000)),
             list(range(8192, 9192)), list(range(100_000, 100_500)), [rng.randint(64, 8191) for _ in range(300)],
             [2**48, 2**55 - 1] * 20, list(range(1, 100)), [0] * 3 + list(range(5000, 9000)),
             [rng.randint(-2**40, 2**40) for _ in range(100)], [-(2**63), 2**63 - 1] * 10]
    for length in range(2, 9):  # every varint length, at both ends of its range
        lo, hi = 1 << (7 * (length - 1) - 1), (1 << (7 * length - 1)) - 1
        cases.append([rng.randint(lo, hi) for _ in range(200)] + [lo, hi])
    return cases


CASES: list[tuple[str, list[Any]]] = [(LONG, c) for c in _long_cases()] + [
    (OPT_LONG, [rng.randint(0, 2**40) for _ in range(100)]),
    (OPT_LONG, [None, 5, 2**30]),
    (STR, [f"{rng.getrandbits(100):036x}" for _ in range(100)]),
    (STR, ["é", "ab"]),
    (STR, ["éa", "ab"]),
    (STR, ["x" * 70, "y" * 70]),
    (OPT_STR, [f"{rng.getrandbits(256):064x}" for _ in range(100)]),
    (OPT_STR, [f"{rng.getrandbits(256):064x}", None]),
    (DEC, [rng.randint(0, 10**18) for _ in range(100)] + [0, 1, 127, 128, 255, 256]),
    (OPT_STR, [None, "ab", None, "é", "ab", None]),
    (OPT_STR, [None] * 5 + ["x" * 200]),
    (OPT_STR, [f"{rng.getrandbits(128):032x}" if i % 3 else None for i in range(100)]),
    (OPT_STR, [None, "éé", None, "ab"]),
    (ARR_STR, [[], ["pii"], ("pii", "phi"), [], ["ü" * 70]]),
    (ARR_STR, [["pii", "phi"]] * 20 + [[]]),
    (ARR_STR, [[]] * 7),
    (ARR_STR, [[f"c{i}" for i in range(k)] for k in range(40)]),
]


@pytest.mark.parametrize(("kind", "vals"), CASES, ids=[f"{k}-{i}" for i, (k, _) in enumerate(CASES)])
def test_fast_paths_equal_the_per_value_encoding(kind: str, vals: list[Any]) -> None:
    assert _encode_items(kind, vals) == b"".join(_encode_one(kind, v) for v in vals)


def test_a_realistic_batch_reads_back_with_fastavro() -> None:
    codec = BatchCodec()
    n = 500
    columns: dict[str, Any] = {
        "event_id": [f"0123abcd-0000-8000-8000-{i:012x}" for i in range(n)],
        "event_time": [NOW_US + 7 * i for i in range(n)],
        "license_id": ["lic-1"] * n, "producer_id": ["p"] * n, "sequence": range(9000, 9000 + n),
        "feature": ["chat"] * n, "model": ["llama"] * n, "model_version": ["3.1"] * n,
        "metric": ["output_tokens"] * n, "quantity": [rng.randint(1, 2000) * 10**6 for _ in range(n)],
        "status": ["ok"] * n, "latency_us": [rng.randint(1000, 90_000) for _ in range(n)],
        "team": [""] * n, "app": [""] * n, "environment": [""] * n, "purpose": [""] * n,
        "hardware_id": ["gpu-0"] * n, "region": ["eu-west-1"] * n,
        "input_hash": [f"{rng.getrandbits(256):064x}" for _ in range(n)], "output_hash": [None] * n,
    }
    value = codec.encode(columns)
    record: Any = schemaless_reader(io.BytesIO(value[HEADER_LEN:]), codec.schema.parsed, None)
    assert record["event_time"][5].timestamp() * 10**6 == pytest.approx(NOW_US + 35)
    assert record["sequence"] == list(range(9000, 9000 + n))
    assert record["latency_us"] == columns["latency_us"]
    assert record["input_hash"] == columns["input_hash"]
    decoded = codec.decode(value)
    assert decoded.columns["quantity"] == columns["quantity"] and decoded.count == n


@pytest.mark.parametrize(("kind", "vals"), CASES, ids=[f"{k}-{i}" for i, (k, _) in enumerate(CASES)])
def test_every_column_decodes_to_what_was_encoded(kind: str, vals: list[Any]) -> None:
    col, end = decode_column(kind, encode_column(kind, vals), 0, True)
    expected = [tuple(v) for v in vals] if kind == ARR_STR else list(vals)
    assert col == expected and end == len(encode_column(kind, vals))

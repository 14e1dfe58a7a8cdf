"""Model protection figures: license-file verify (µs), weights decrypt (MB/s), watermark cost per token.

    METERSTREAM_TEST_KAFKA_PORT=20092 .venv/bin/python -m pytest tests/benchmarks/test_protect_bench.py -m benchmark -s
    sizes: BENCH_WEIGHTS_MB (default 256)
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

import numpy as np
import pytest

from meterstream.clock import now_us
from meterstream.producers.protect.kdf import watermark_key, weights_key
from meterstream.producers.protect.license_file import check_machine, check_ttl, dearmor, verify_signature
from meterstream.producers.protect.watermark import WatermarkLogitsProcessor
from meterstream.producers.protect.weights import encrypt_weights, open_weights
from tests.producers.protect.conftest import MACHINE, Vendor, vendor  # noqa: F401 (the fixture)

pytestmark = pytest.mark.benchmark


def test_license_file_verify_and_open(vendor: Vendor) -> None:
    text, trusted = vendor.export(), vendor.keys.trusted()
    runs = []
    for _ in range(2000):
        t0 = time.perf_counter()
        body = verify_signature(dearmor(text), trusted)
        check_ttl(body, now_us())
        check_machine(body, MACHINE)
        runs.append((time.perf_counter() - t0) * 1e6)
    opens = []
    for _ in range(10):
        t0 = time.perf_counter()
        vendor.open(text)
        opens.append((time.perf_counter() - t0) * 1e3)
    print(f"\nlicense file ({len(text)} bytes): verify (signature + TTL + machine) median "
          f"{statistics.median(runs):.0f} us, p99 {np.percentile(runs, 99):.0f} us; full open "
          f"(scrypt n=2^14 + decrypt + terms) median {statistics.median(opens):.1f} ms")


def test_weights_throughput(vendor: Vendor, tmp_path: Path) -> None:
    mb = int(os.environ.get("BENCH_WEIGHTS_MB", "256"))
    src, dst = tmp_path / "w.bin", tmp_path / "w.msw"
    src.write_bytes(np.random.default_rng(1).bytes(mb << 20))
    key = weights_key(vendor.keys.master(), "m", "1")
    t0 = time.perf_counter()
    encrypt_weights(src, dst, key, model="m", version="1")
    enc = time.perf_counter() - t0
    t0 = time.perf_counter()
    open_weights(dst, key)
    dec = time.perf_counter() - t0
    t0 = time.perf_counter()
    src.read_bytes()
    read = time.perf_counter() - t0
    print(f"\nweights ({mb} MiB, 4 MiB chunks): encrypt {mb / enc:.0f} MB/s, decrypt into memory "
          f"{mb / dec:.0f} MB/s; baseline plain read {mb / read:.0f} MB/s")


@pytest.mark.parametrize("vocab", [32_000, 128_000])
def test_watermark_overhead(vocab: int) -> None:
    proc = WatermarkLogitsProcessor(watermark_key(bytes(32), "lic"), vocab)
    scores = np.random.default_rng(0).standard_normal((1, vocab)).astype(np.float32)
    runs = []
    for i in range(1000):
        t0 = time.perf_counter()
        proc(np.array([[i]]), scores)  # a new previous token every step: no cached green list
        runs.append((time.perf_counter() - t0) * 1e6)
    base = []
    for _ in range(200):
        t0 = time.perf_counter()
        z = scores[0] - scores[0].max()
        p = np.exp(z)
        p /= p.sum()
        base.append((time.perf_counter() - t0) * 1e6)
    print(f"\nwatermark, vocabulary {vocab}: median {statistics.median(runs):.0f} us per generated token; "
          f"baseline softmax over the same logits {statistics.median(base):.0f} us")

"""The output watermark on a model the test trains: 200 tokens name their license (z >= 4) and no other;
unwatermarked text is rarely flagged; a light edit keeps the mark; the tier flag turns it on."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest

from meterstream.producers.protect.kdf import watermark_key
from meterstream.producers.protect.watermark import (Z_THRESHOLD, GreenList, WatermarkLogitsProcessor, attribute,
                                                     detect, logits_processors_for, sample, z_score)

from .conftest import Vendor, terms
from .lm import BigramLM, WordTokenizer, corpus

N_TOKENS, FPR_SAMPLES = 200, 200


@pytest.fixture(scope="module")
def lm() -> tuple[WordTokenizer, BigramLM]:
    text = corpus()
    tok = WordTokenizer(text)
    return tok, BigramLM(tok.encode(text), len(tok.vocab))


@pytest.fixture(scope="module")
def keys() -> dict[str, bytes]:
    master = bytes(range(32))
    return {lic: watermark_key(master, lic) for lic in ("lic-a", "lic-b", "lic-c")}


def _generate(lm: BigramLM, key: bytes | None, seed: int, n: int = N_TOKENS) -> list[int]:
    procs = logits_processors_for({"watermark_required": key is not None}, key or b"", lm.vocab_size)
    return sample(lm.next_logits, [1], n, procs, np.random.default_rng(seed))


def test_200_tokens_name_their_license_and_no_other(lm: tuple[WordTokenizer, BigramLM],
                                                    keys: dict[str, bytes]) -> None:
    tok, model = lm
    zs = []
    for seed in range(5):
        tokens = _generate(model, keys["lic-a"], seed)
        found = {d.license_id: d for d in detect(tokens, keys, model.vocab_size)}
        assert found["lic-a"].z >= Z_THRESHOLD and found["lic-a"].watermarked
        assert found["lic-b"].z < Z_THRESHOLD and found["lic-c"].z < Z_THRESHOLD
        hit = attribute(tokens, keys, model.vocab_size)
        assert hit is not None and hit.license_id == "lic-a"
        zs.append(found["lic-a"].z)
    assert len(tok.decode(tokens)) == N_TOKENS
    print(f"\nwatermark: 200 tokens under A, z(A) = {min(zs):.1f}..{max(zs):.1f}")


def test_false_positive_rate_on_unwatermarked_text(lm: tuple[WordTokenizer, BigramLM],
                                                   keys: dict[str, bytes]) -> None:
    _, model = lm
    zs = []
    for seed in range(FPR_SAMPLES):
        tokens = _generate(model, None, 10_000 + seed)
        zs.extend(d.z for d in detect(tokens, keys, model.vocab_size))
    flagged = sum(z >= Z_THRESHOLD for z in zs)
    print(f"\nwatermark: false positives {flagged}/{len(zs)} tests ({FPR_SAMPLES} samples x 3 keys) at z >= 4 "
          f"(z mean {np.mean(zs):.2f}, sd {np.std(zs):.2f}, max {max(zs):.2f})")
    assert flagged <= 1


def test_detected_after_10_percent_of_tokens_replaced(lm: tuple[WordTokenizer, BigramLM],
                                                      keys: dict[str, bytes]) -> None:
    _, model = lm
    rng = np.random.default_rng(99)
    zs = []
    for seed in range(10):
        tokens = _generate(model, keys["lic-a"], 500 + seed)
        for i in rng.choice(N_TOKENS, N_TOKENS // 10, replace=False):
            tokens[i] = int(rng.integers(1, model.vocab_size))
        zs.append(z_score(tokens, GreenList(keys["lic-a"], model.vocab_size))[0])
    print(f"\nwatermark: after 10% replaced, z(A) = {min(zs):.1f}..{max(zs):.1f}, detected in "
          f"{sum(z >= Z_THRESHOLD for z in zs)}/10")
    assert min(zs) >= Z_THRESHOLD


def test_tier_flag_turns_it_on_with_the_key_from_the_license_file(vendor: Vendor,
                                                                  lm: tuple[WordTokenizer, BigramLM]) -> None:
    _, model = lm
    lic = vendor.open(vendor.export())
    assert lic.flags["watermark_required"]
    procs = logits_processors_for(lic.flags, lic.watermark_key, model.vocab_size)
    tokens = sample(model.next_logits, [1], N_TOKENS, procs, np.random.default_rng(5))
    vendor_side = {"acme": watermark_key(vendor.keys.master(), "acme"),
                   "globex": watermark_key(vendor.keys.master(), "globex")}
    hit = attribute(tokens, vendor_side, model.vocab_size)
    assert hit is not None and hit.license_id == "acme"
    pro = vendor.open(vendor.export(terms(flags={"watermark_required": False})))
    assert logits_processors_for(pro.flags, pro.watermark_key, model.vocab_size) == []


def test_processor_shape_matches_transformers(keys: dict[str, bytes]) -> None:
    """(batch, seq) ids and (batch, vocab) scores in, same-shape scores out; delta on green tokens only."""
    proc = WatermarkLogitsProcessor(keys["lic-a"], 1000)
    ids, scores = np.array([[3, 7], [5, 9]]), np.zeros((2, 1000))
    out = proc(ids, scores)
    assert out.shape == scores.shape and set(np.unique(out)) == {0.0, 2.0}
    assert abs(out[0].mean() / 2.0 - 0.25) < 0.05  # about gamma of the vocabulary is green
    assert np.array_equal(out[1] > 0, GreenList(keys["lic-a"], 1000).mask(9))
    assert all(GreenList(keys["lic-a"], 1000).is_green(9, j) == bool(out[1, j]) for j in range(1000))


@pytest.mark.parametrize("vocab", [32_000, 128_000])
def test_overhead_per_generated_token(keys: dict[str, bytes], vocab: int) -> None:
    """Cost of the processor per generated token at real vocabulary sizes (every step a new previous
    token, so no cached green list helps), reported."""
    proc = WatermarkLogitsProcessor(keys["lic-a"], vocab)
    scores = np.zeros((1, vocab), dtype=np.float32)
    n, t0 = 200, time.perf_counter()
    for i in range(n):
        proc(np.array([[i]]), scores)
    per = (time.perf_counter() - t0) / n * 1e6
    print(f"\nwatermark overhead: {per:.0f} us per generated token (vocabulary {vocab})")
    assert per < 50_000


def test_transformers_adapter_where_torch_is_installed(keys: dict[str, bytes]) -> None:
    """Runs only where torch and transformers are installed (they are not in any meterstream extra):
    skipped otherwise, and a skip is not a pass."""
    torch: Any = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from meterstream.producers.protect.watermark.transformers_adapter import watermark_processor

    proc = watermark_processor(keys["lic-a"], 1000)
    out = proc(torch.tensor([[3, 9]]), torch.zeros((1, 1000)))
    assert torch.equal(out[0] > 0, torch.from_numpy(GreenList(keys["lic-a"], 1000).mask(9)))

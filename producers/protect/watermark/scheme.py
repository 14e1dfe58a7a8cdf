"""The green list and the logits processor that favours it (Kirchenbauer et al., "A Watermark for Large
Language Models", ICML 2023: gamma 0.25, delta 2.0, detection at z >= 4).

For the previous token ``t``, a token ``j`` is green when
``mix64(seed(t) XOR j * 0x9E3779B97F4A7C15) < gamma * 2^64``, with ``seed(t)`` the first 8
bytes of HMAC-SHA256(license watermark key, t) and ``mix64`` SplitMix64's finaliser. Each
token is green with probability gamma, independently of the others, for anyone without the
key; with the key, membership is one hash per token, so detection needs no model and
generation marks the whole vocabulary with a few vectorised operations. The processor adds
``delta`` to the green logits: the text stays fluent where the model is sure (low entropy),
and leans green where it has a choice, which is what the detector counts.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import OrderedDict
from typing import Any

from ..deps import require

GAMMA, DELTA, Z_THRESHOLD = 0.25, 2.0, 4.0
GOLDEN = 0x9E3779B97F4A7C15
M1, M2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB
MASK64 = (1 << 64) - 1


def mix64(z: int) -> int:
    """SplitMix64's finaliser on a Python int (the scalar twin of ``GreenList.mask``)."""
    z = ((z ^ (z >> 30)) * M1) & MASK64
    z = ((z ^ (z >> 27)) * M2) & MASK64
    return z ^ (z >> 31)


class GreenList:
    """Green-list membership for one license's key: per token (detection) or as a vocabulary mask (generation)."""

    def __init__(self, key: bytes, vocab_size: int, gamma: float = GAMMA, cache: int = 512) -> None:
        if not 0 < gamma < 1:
            raise ValueError(f"gamma must be in (0, 1), got {gamma}")
        self.key, self.vocab_size, self.gamma = key, vocab_size, gamma
        self.threshold = int(gamma * (1 << 64))
        self._seeds: dict[int, int] = {}
        self._masks: OrderedDict[int, Any] = OrderedDict()
        self._cache = cache
        self._spread: Any = None  # arange(vocab) * GOLDEN, computed once

    def seed(self, prev: int) -> int:
        s = self._seeds.get(prev)
        if s is None:
            digest = hmac.new(self.key, int(prev).to_bytes(8, "big", signed=True), hashlib.sha256).digest()
            s = self._seeds[prev] = int.from_bytes(digest[:8], "big")
        return s

    def is_green(self, prev: int, token: int) -> bool:
        return mix64(self.seed(prev) ^ ((int(token) * GOLDEN) & MASK64)) < self.threshold

    def mask(self, prev: int) -> Any:
        """Boolean array over the vocabulary: True where green after ``prev`` (cached per token)."""
        m = self._masks.get(prev)
        if m is not None:
            self._masks.move_to_end(prev)
            return m
        np = require("numpy")
        with np.errstate(over="ignore"):
            if self._spread is None:
                self._spread = np.arange(self.vocab_size, dtype=np.uint64) * np.uint64(GOLDEN)
            z = self._spread ^ np.uint64(self.seed(prev))
            z = (z ^ (z >> np.uint64(30))) * np.uint64(M1)
            z = (z ^ (z >> np.uint64(27))) * np.uint64(M2)
            z ^= z >> np.uint64(31)
        m = z < np.uint64(self.threshold)
        self._masks[prev] = m
        if len(self._masks) > self._cache:
            self._masks.popitem(last=False)
        return m


class WatermarkLogitsProcessor:
    """Adds ``delta`` to the green tokens' logits. Same call shape as transformers' ``LogitsProcessor``:
    ``processor(input_ids [batch, seq], scores [batch, vocab]) -> scores`` (numpy arrays here;
    ``transformers_adapter`` wraps it for torch)."""

    def __init__(self, key: bytes, vocab_size: int, gamma: float = GAMMA, delta: float = DELTA) -> None:
        self.green = GreenList(key, vocab_size, gamma)
        self.delta = delta

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        out = scores.copy()
        for row in range(out.shape[0]):
            out[row] += self.delta * self.green.mask(int(input_ids[row, -1]))[: out.shape[1]]
        return out

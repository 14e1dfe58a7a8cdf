"""The generation helper: turns the watermark on when the license's tier flags say ``watermark_required``."""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

from ..deps import require
from .scheme import DELTA, GAMMA, WatermarkLogitsProcessor

Processor = Callable[[Any, Any], Any]


def logits_processors_for(flags: Mapping[str, bool], key: bytes, vocab_size: int, *, gamma: float = GAMMA,
                          delta: float = DELTA, force: bool = False) -> list[Processor]:
    """The processors a generation must run: the license's watermark when its tier requires it (or ``force``).

    ``flags`` are the tier flags of a validate answer (``ValidationResult.flags``) or of an
    opened license file (``VerifiedLicense.flags``); ``key`` is the license's watermark key
    (``VerifiedLicense.watermark_key``).
    """
    if force or flags.get("watermark_required"):
        return [WatermarkLogitsProcessor(key, vocab_size, gamma, delta)]
    return []


def sample(next_logits: Callable[[Any], Any], prompt: Sequence[int], max_new_tokens: int,
           processors: Sequence[Processor], rng: Any, temperature: float = 1.0) -> list[int]:
    """Sample ``max_new_tokens`` from a numpy language model: ``next_logits(ids [1, seq]) -> [1, vocab]``."""
    np = require("numpy")
    ids = np.asarray([list(prompt)], dtype=np.int64)
    for _ in range(max_new_tokens):
        scores = np.asarray(next_logits(ids), dtype=np.float64) / temperature
        for proc in processors:
            scores = proc(ids, scores)
        z = scores[0] - scores[0].max()
        p = np.exp(z)
        token = int(rng.choice(len(p), p=p / p.sum()))
        ids = np.concatenate([ids, [[token]]], axis=1)
    return [int(t) for t in ids[0, len(prompt):]]

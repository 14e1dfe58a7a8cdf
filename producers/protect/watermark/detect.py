"""Which license produced a text: the z-score of its green tokens under each candidate license's key.

Under the null hypothesis (the text was not watermarked with this key) each scored token
is green with probability gamma, so the count of green tokens G among T scored ones gives
``z = (G - gamma T) / sqrt(T gamma (1 - gamma))`` and a one-sided p-value. Each distinct
(previous, current) token pair is scored once: repeated phrases are not independent draws,
and counting them again would inflate z for unwatermarked text too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

from .scheme import GAMMA, Z_THRESHOLD, GreenList


@dataclass(frozen=True)
class Detection:
    """The test of one text against one license's key."""

    license_id: str
    z: float
    p_value: float
    green: int
    scored: int

    @property
    def watermarked(self) -> bool:
        return self.z >= Z_THRESHOLD


def z_score(tokens: Sequence[int], green: GreenList) -> tuple[float, int, int]:
    """(z, green count, scored count) of ``tokens`` under one green list."""
    pairs = {(int(a), int(b)) for a, b in zip(tokens, tokens[1:])}
    scored = len(pairs)
    if scored == 0:
        return 0.0, 0, 0
    hits = sum(green.is_green(a, b) for a, b in pairs)
    g = green.gamma
    return (hits - g * scored) / math.sqrt(scored * g * (1 - g)), hits, scored


def detect(tokens: Sequence[int], keys: Mapping[str, bytes], vocab_size: int,
           gamma: float = GAMMA) -> list[Detection]:
    """One detection per candidate license, highest z first."""
    out = []
    for license_id, key in keys.items():
        z, hits, scored = z_score(tokens, GreenList(key, vocab_size, gamma))
        out.append(Detection(license_id, z, 0.5 * math.erfc(z / math.sqrt(2)), hits, scored))
    return sorted(out, key=lambda d: d.z, reverse=True)


def attribute(tokens: Sequence[int], keys: Mapping[str, bytes], vocab_size: int,
              threshold: float = Z_THRESHOLD) -> Detection | None:
    """The license whose watermark the text carries (z >= threshold, the highest), or None."""
    found = detect(tokens, keys, vocab_size)
    return found[0] if found and found[0].z >= threshold else None

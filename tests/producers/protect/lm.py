"""A tiny language model the tests build themselves: a corpus from a random grammar, a word-level
tokenizer trained on it, and a bigram model fitted to it (numpy; no hub download, no torch)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np


def corpus(words: int = 30_000, vocab: int = 300, successors: int = 40, seed: int = 3) -> list[str]:
    """Text from a Markov grammar: each word has ``successors`` likely next words (Zipf weights)."""
    rng = np.random.default_rng(seed)
    names = [f"w{i}" for i in range(vocab)]
    nxt = [rng.choice(vocab, successors, replace=False) for _ in range(vocab)]
    weights = 1 / np.arange(1, successors + 1)
    weights /= weights.sum()
    out, cur = [], 0
    for _ in range(words):
        cur = int(nxt[cur][rng.choice(successors, p=weights)])
        out.append(names[cur])
    return out


class WordTokenizer:
    """Word-level tokenizer trained on a corpus: ids by descending frequency, 0 = <unk>."""

    def __init__(self, text: list[str]) -> None:
        self.vocab = ["<unk>"] + [w for w, _ in Counter(text).most_common()]
        self.ids = {w: i for i, w in enumerate(self.vocab)}

    def encode(self, text: list[str]) -> list[int]:
        return [self.ids.get(w, 0) for w in text]

    def decode(self, ids: list[int]) -> list[str]:
        return [self.vocab[i] for i in ids]


class BigramLM:
    """log P(next | previous) with add-k smoothing; ``next_logits(ids [1, seq]) -> [1, vocab]``."""

    def __init__(self, ids: list[int], vocab_size: int, k: float = 0.01) -> None:
        counts = np.full((vocab_size, vocab_size), k)
        np.add.at(counts, (ids[:-1], ids[1:]), 1.0)
        self.logp = np.log(counts / counts.sum(axis=1, keepdims=True))
        self.vocab_size = vocab_size

    def next_logits(self, ids: Any) -> Any:
        return self.logp[int(ids[0, -1])][None, :]

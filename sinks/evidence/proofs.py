"""Proofs read from the stored log: where a leaf is, inclusion and consistency proofs at a checkpoint's size.

Subtree hashes come from the stored tiles where a range covers whole tiles and
from the leaves otherwise, so one proof reads at most two tiles' leaves plus the
tile hashes (about n/256 of them). Memoised per reader: a bundle of many
entries shares the upper nodes.
"""

from __future__ import annotations

import bisect

from .errors import EvidenceError
from .merkle import TILE, TILE_HEIGHT, consistency_proof, inclusion_proof, mth
from .store import Key, LogStore, StoredCheckpoint, Tile
from .verify import node_hash


class TreeReader:
    """Read access to one log's tree as stored."""

    def __init__(self, store: LogStore, log: str) -> None:
        self.store, self.log = store, log
        self.tiles: list[Tile] = store.tiles(log)
        self._ends = [t.last for t in self.tiles]
        self._leaves: dict[int, list[tuple[Key, bytes]]] = {}
        self._nodes: dict[tuple[int, int], bytes] = {}

    def tile_leaves(self, t: int) -> list[tuple[Key, bytes]]:
        """The (key, hash) leaves of tile ``t`` (the last one may be partial)."""
        if t not in self._leaves:
            after = self.tiles[t - 1].last if t > 0 else None
            leaves = self.store.leaves_after(self.log, after, TILE)
            if t < len(self.tiles) and (len(leaves) < TILE or leaves[-1][0] != self.tiles[t].last):
                raise EvidenceError(f"log {self.log}: the leaves of tile {t} are gone or do not end where its stored "
                                    "hash says (pruned by retention, or tampered with); proofs that need them "
                                    "cannot be made")
            self._leaves[t] = leaves
        return self._leaves[t]

    def locate(self, key: Key) -> int:
        """The index of the leaf with this key."""
        t = bisect.bisect_left(self._ends, key)
        for i, (k, _) in enumerate(self.tile_leaves(t)):
            if k == key:
                return t * TILE + i
        raise EvidenceError(f"log {self.log}: no leaf at offset {key[0]} for {key[1]}")

    def leaf(self, index: int) -> bytes:
        return self.tile_leaves(index // TILE)[index % TILE][1]

    def subtree(self, lo: int, hi: int) -> bytes:
        """MTH of leaves [lo, hi)."""
        if (lo, hi) in self._nodes:
            return self._nodes[(lo, hi)]
        if hi - lo == TILE and lo % TILE == 0 and lo // TILE < len(self.tiles):
            h = self.tiles[lo // TILE].hash
        elif hi - lo <= TILE and lo // TILE == (hi - 1) // TILE:
            leaves = self.tile_leaves(lo // TILE)
            h = mth([x for _, x in leaves[lo % TILE:lo % TILE + hi - lo]])
            if len(leaves) < (hi - 1) % TILE + 1:
                raise EvidenceError(f"log {self.log}: has fewer than the {hi} leaves a checkpoint covers "
                                    "(leaves deleted)")
        else:
            k = 1 << ((hi - lo - 1).bit_length() - 1)
            h = node_hash(self.subtree(lo, lo + k), self.subtree(lo + k, hi))
        if hi - lo >= 1 << TILE_HEIGHT // 2:  # small nodes are cheap to redo; keep the memo small
            self._nodes[(lo, hi)] = h
        return h

    def inclusion(self, index: int, size: int) -> list[bytes]:
        return inclusion_proof(index, size, self.subtree)

    def consistency(self, old: int, new: int) -> list[bytes]:
        return consistency_proof(old, new, self.subtree)

    def root(self, size: int) -> bytes:
        return self.subtree(0, size) if size else mth([])


def covering_checkpoint(store: LogStore, log: str, index: int) -> StoredCheckpoint:
    """The latest checkpoint of ``log``; it must cover leaf ``index``."""
    cps = store.checkpoints(log)
    if not cps or cps[-1].size <= index:
        raise EvidenceError(f"log {log}: leaf {index} is not covered by a checkpoint yet "
                            "(the sink signs one every evidence_checkpoint_events / _s; or run "
                            "`meterstream evidence checkpoint` with the sink stopped)")
    return cps[-1]

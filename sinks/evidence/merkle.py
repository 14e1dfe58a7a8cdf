"""RFC 6962 Merkle tree: the growing tree's state, and inclusion and consistency proofs.

The log keeps the hash of every complete *tile* (an aligned subtree of
``TILE`` = 256 leaves) beside the leaves. A proof then needs the leaves of at
most two tiles and the tile hashes, never the whole log: one proof in a
10-million-leaf log hashes about n/256 nodes. Tile hashes also outlive pruned
leaves (see docs/evidence.md, retention). Hashing itself is in ``verify`` (the
auditor's file), so both sides hash the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from .verify import node_hash

TILE_HEIGHT = 8
TILE = 1 << TILE_HEIGHT
EMPTY_ROOT = bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")  # SHA-256("")


def perfect_root(hashes: list[bytes]) -> bytes:
    """Root of a perfect subtree (len a power of two), level by level."""
    while len(hashes) > 1:
        hashes = [node_hash(hashes[i], hashes[i + 1]) for i in range(0, len(hashes), 2)]
    return hashes[0]


def mth(hashes: list[bytes]) -> bytes:
    """RFC 6962 MTH of any number of leaf hashes."""
    if not hashes:
        return EMPTY_ROOT
    if len(hashes) == 1:
        return hashes[0]
    k = 1 << ((len(hashes) - 1).bit_length() - 1)
    return node_hash(mth(hashes[:k]), mth(hashes[k:]))


@dataclass
class TreeState:
    """The right edge of a growing tree: complete tiles folded into perfect subtrees, plus the partial tile.

    ``append`` returns the tiles it completed, which the log stores.
    """

    tiles: int = 0  # complete tiles so far
    stack: list[tuple[int, bytes]] = field(default_factory=list)  # (tiles covered, hash), sizes decreasing
    pending: list[bytes] = field(default_factory=list)  # leaf hashes after the last complete tile

    @property
    def size(self) -> int:
        return self.tiles * TILE + len(self.pending)

    def add_tile(self, tile_hash: bytes) -> None:
        self.stack.append((1, tile_hash))
        while len(self.stack) > 1 and self.stack[-1][0] == self.stack[-2][0]:
            (n, right), (_, left) = self.stack.pop(), self.stack.pop()
            self.stack.append((2 * n, node_hash(left, right)))
        self.tiles += 1

    def append(self, leaf_hashes: list[bytes]) -> list[tuple[int, bytes]]:
        """Add leaves; return (tile index, hash) of each tile they completed."""
        done = []
        pending = self.pending + leaf_hashes
        start = 0
        while len(pending) - start >= TILE:
            h = perfect_root(pending[start:start + TILE])
            done.append((self.tiles, h))
            self.add_tile(h)
            start += TILE
        self.pending = pending[start:]
        return done

    def root(self) -> bytes:
        """MTH of the whole tree: the partial tile's root folded into the perfect subtrees, right to left."""
        parts = [h for _, h in self.stack] + ([mth(self.pending)] if self.pending else [])
        if not parts:
            return EMPTY_ROOT
        acc = parts[-1]
        for h in reversed(parts[:-1]):
            acc = node_hash(h, acc)
        return acc


Subtree = Callable[[int, int], bytes]  # MTH of leaves [lo, hi)


def inclusion_proof(index: int, size: int, subtree: Subtree) -> list[bytes]:
    """PATH(index, D[0:size]) of RFC 6962 2.1.1, bottom-up."""
    path: list[bytes] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = 1 << ((hi - lo - 1).bit_length() - 1)
        if index < lo + k:
            path.append(subtree(lo + k, hi))
            hi = lo + k
        else:
            path.append(subtree(lo, lo + k))
            lo += k
    return path[::-1]


def consistency_proof(old: int, new: int, subtree: Subtree) -> list[bytes]:
    """PROOF(old, D[0:new]) of RFC 6962 2.1.2."""
    if old == 0 or old >= new:
        return []
    return _subproof(old, 0, new, True, subtree)


def _subproof(m: int, lo: int, hi: int, whole: bool, subtree: Subtree) -> list[bytes]:
    n = hi - lo
    if m == n:
        return [] if whole else [subtree(lo, hi)]
    k = 1 << ((n - 1).bit_length() - 1)
    if m <= k:
        return _subproof(m, lo, lo + k, whole, subtree) + [subtree(lo + k, hi)]
    return _subproof(m - k, lo + k, hi, False, subtree) + [subtree(lo, lo + k)]

"""The appending side of the evidence log: trees caught up with the stored leaves, tiles and checkpoints.

Leaves are written by ClickHouse (usage: a view on the move into the audit
trail) or by ``record_log`` (alerts) before a batch's offsets are committed;
that alone makes the log exactly once. The trees, tiles and checkpoints are a
pure function of the leaves, so they are kept off the write path: the sink's
checkpointer thread (``checkpointer.py``) calls ``catch_up``, which extends each touched log's tree with the leaves stored after
its last complete tile (ClickHouse hashes the new complete tiles; only their
hashes and the partial tile's leaf hashes come back), stores the tiles, and signs a
checkpoint when ``checkpoint_events`` leaves were added since the last one or
``checkpoint_s`` seconds passed. It is idempotent: the tree is a function of
the leaf table alone, so a crash anywhere only means a later catch-up (by this
process or the partition's next owner) reads the same leaves again.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable, Iterable

from .merkle import TreeState
from .signing import Signer
from .store import Key, LogStore, StoredCheckpoint, Tile

log = logging.getLogger(__name__)
Publish = Callable[[str, str], None]  # (origin, signed note)


@dataclass(frozen=True)
class Cadence:
    events: int
    seconds: float


@dataclass
class _Log:
    tree: TreeState
    base: Key | None  # key of the last leaf of the last complete tile: new tiles start after it
    signed_size: int = 0
    signed_at: float = 0.0


def origin_of(prefix: str, log_name: str) -> str:
    """The checkpoint origin of a log: ``<origin prefix>/<topic>/<partition>``."""
    return f"{prefix}/{log_name}"


class EvidenceLog:
    """Per-log tree state of one sink process, loaded from ClickHouse on first use."""

    def __init__(self, store: LogStore, signer: Signer, cadence: Cadence, origin_prefix: str,
                 publish: Publish | None = None) -> None:
        self.store, self.signer, self.cadence = store, signer, cadence
        self.origin_prefix, self.publish = origin_prefix, publish
        self.logs: dict[str, _Log] = {}

    def catch_up(self, logs: Iterable[str] | None = None) -> list[StoredCheckpoint]:
        """Extend the trees of these logs (default: every log in the store); sign those the cadence says."""
        names = self.store.logs() if logs is None else sorted(set(logs))
        self._extend_all(names)
        return self._sign(names, force=False)

    def unsigned(self) -> set[str]:
        """The logs loaded here whose tree grew past their last checkpoint (the time cadence may be due)."""
        return {name for name, st in self.logs.items() if st.tree.size > st.signed_size}

    def _state(self, name: str) -> _Log:
        if name not in self.logs:
            self.logs[name] = load_state(self.store, name)
        return self.logs[name]

    def _extend_all(self, names: Iterable[str]) -> None:
        """Extend the trees of these logs with the leaves stored since (tiles hashed in ClickHouse; a log with no new
        leaves costs only its share of one count; the new tiles of every log are stored in one insert)."""
        states = {name: self._state(name) for name in names}
        found = self.store.advance({name: (st.base, len(st.tree.pending)) for name, st in states.items()})
        tiles = {name: [Tile(states[name].tree.tiles + t.index, t.hash, t.last, t.max_time) for t in new]
                 for name, (new, _) in found.items()}
        self.store.insert_tiles(tiles)  # before any state moves on: a failed write is retried whole
        for name, (_, partial) in found.items():
            st = states[name]
            for t in tiles[name]:
                st.tree.add_tile(t.hash)
            st.tree.pending = partial
            if tiles[name]:
                st.base = tiles[name][-1].last

    def maybe_checkpoint(self, name: str, force: bool = False) -> StoredCheckpoint | None:
        """Sign and store (and publish) a checkpoint of one log when the cadence says so, or ``force`` and it grew."""
        signed = self._sign([name], force)
        return signed[0] if signed else None

    def _sign(self, names: Iterable[str], force: bool) -> list[StoredCheckpoint]:
        """Sign the logs that grew and are due (or ``force``), store their checkpoints in one insert, publish them."""
        now, cps = time.monotonic(), []
        for name in names:
            st = self._state(name)
            grown = st.tree.size - st.signed_size
            due = grown >= self.cadence.events or now - st.signed_at >= self.cadence.seconds
            if grown > 0 and (due or force):
                origin, root = origin_of(self.origin_prefix, name), st.tree.root()
                cps.append(StoredCheckpoint(name, origin, st.tree.size, root,
                                            self.signer.checkpoint(origin, st.tree.size, root)))
        self.store.insert_checkpoints(cps)
        for cp in cps:
            st = self.logs[cp.log]
            st.signed_size, st.signed_at = cp.size, now
            if self.publish is not None:
                try:
                    self.publish(cp.origin, cp.note)
                except Exception as exc:  # noqa: BLE001 - the checkpoint is stored; witnesses can also read the table
                    log.warning("could not publish checkpoint %s size %d: %s", cp.origin, cp.size, exc)
        return cps

    def checkpoint_all(self, logs: Iterable[str] | None = None) -> list[StoredCheckpoint]:
        """Catch up every log in the store (or these) and sign those that grew since their last checkpoint."""
        names = self.store.logs() if logs is None else sorted(set(logs))
        self._extend_all(names)
        return self._sign(names, force=True)


def load_state(store: LogStore, name: str) -> _Log:
    """A log's tree as far as its stored tiles go; ``_extend_all`` reads the leaves after them."""
    tree = TreeState()
    tiles = store.tiles(name)
    for t in tiles:
        tree.add_tile(t.hash)
    cps = store.checkpoints(name)
    return _Log(tree, tiles[-1].last if tiles else None, signed_size=cps[-1].size if cps else 0,
                signed_at=time.monotonic())

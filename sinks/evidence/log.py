"""The appending side of the evidence log: trees caught up with the stored leaves, tiles and checkpoints.

Leaves are written by ClickHouse (usage: a view on the move into the audit
trail) or by ``record_log`` (alerts) before a batch's offsets are committed.
``catch_up`` then extends each touched log's tree with the leaves stored after
the last one it has seen, stores the tiles they complete, and signs a
checkpoint when ``checkpoint_events`` leaves were added since the last one or
``checkpoint_s`` seconds passed. It is idempotent: the tree is a function of
the leaf table alone, so a crash anywhere only means a later catch-up (by this
process or the partition's next owner) reads the same leaves again.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

from .merkle import TILE, TreeState
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
    last: Key | None
    pending_times: list[int] = field(default_factory=list)  # entry times of the partial tile's leaves
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

    def catch_up(self, logs: Iterable[str]) -> None:
        for name in sorted(logs):
            self._extend(name)
            self.maybe_checkpoint(name)

    def _state(self, name: str) -> _Log:
        if name not in self.logs:
            self.logs[name] = load_state(self.store, name)
        return self.logs[name]

    def _extend(self, name: str) -> None:
        st = self._state(name)
        hashes, times = self.store.new_leaves(name, st.last)
        if not hashes:
            return
        tree = TreeState(st.tree.tiles, list(st.tree.stack), list(st.tree.pending))
        done = tree.append(hashes)
        pending_before, all_times = len(st.tree.pending), st.pending_times + times
        ranks = [(i + 1) * TILE - pending_before for i in range(len(done))] + [len(hashes)]
        keys = self.store.keys_at(name, st.last, ranks)
        tiles = [Tile(idx, h, keys[ranks[i]], max(all_times[i * TILE:(i + 1) * TILE]))
                 for i, (idx, h) in enumerate(done)]
        self.store.insert_tiles(name, tiles)  # before the state moves on: a failed write is retried whole
        st.tree, st.last = tree, keys[len(hashes)]
        st.pending_times = all_times[len(done) * TILE:]

    def maybe_checkpoint(self, name: str, force: bool = False) -> StoredCheckpoint | None:
        """Sign and store (and publish) a checkpoint when the cadence says so, or ``force`` and it grew."""
        st = self._state(name)
        grown = st.tree.size - st.signed_size
        due = grown >= self.cadence.events or time.monotonic() - st.signed_at >= self.cadence.seconds
        if grown <= 0 or not (due or force):
            return None
        origin, root = origin_of(self.origin_prefix, name), st.tree.root()
        cp = StoredCheckpoint(name, origin, st.tree.size, root, self.signer.checkpoint(origin, st.tree.size, root))
        self.store.insert_checkpoint(cp)
        st.signed_size, st.signed_at = cp.size, time.monotonic()
        if self.publish is not None:
            try:
                self.publish(origin, cp.note)
            except Exception as exc:  # noqa: BLE001 - the checkpoint is stored; witnesses can also read the table
                log.warning("could not publish checkpoint %s size %d: %s", origin, cp.size, exc)
        return cp

    def checkpoint_all(self, logs: Iterable[str] | None = None) -> list[StoredCheckpoint]:
        """Catch up every log in the store (or these) and sign those that grew since their last checkpoint."""
        out = []
        for name in self.store.logs() if logs is None else logs:
            self._extend(name)
            cp = self.maybe_checkpoint(name, force=True)
            if cp is not None:
                out.append(cp)
        return out


def load_state(store: LogStore, name: str) -> _Log:
    """A log's tree as far as its stored tiles go; ``_extend`` reads the leaves after them."""
    tree = TreeState()
    tiles = store.tiles(name)
    for t in tiles:
        tree.add_tile(t.hash)
    cps = store.checkpoints(name)
    return _Log(tree, tiles[-1].last if tiles else None, signed_size=cps[-1].size if cps else 0,
                signed_at=time.monotonic())

"""Pruning leaves that retention made useless, keeping what later proofs need.

Only whole tiles are pruned, oldest first, and only tiles whose entries are all
older than the cutoff: the tile hashes stay (``evidence_tiles``), and so do all
checkpoints, so every later leaf keeps its inclusion proof and every checkpoint
whose size is a multiple of 256 or lies after the pruned range keeps its
consistency proofs. What goes is the leaf hashes themselves (docs/evidence.md).
"""

from __future__ import annotations

import logging
from datetime import datetime

from clickhouse_connect.driver.client import Client

from .store import LogStore

log = logging.getLogger(__name__)


def prunable_tiles(store: LogStore, name: str, before: datetime) -> int:
    """How many leading tiles of a log hold only entries older than ``before``."""
    cutoff = int(before.timestamp() * 1_000_000)
    n = 0
    for tile in store.tiles(name):
        if tile.max_time >= cutoff:
            break
        n += 1
    return n


def prune(client: Client, before: datetime) -> dict[str, int]:
    """Delete the leaves of whole tiles older than ``before`` in every log; return tiles pruned per log."""
    store = LogStore(client)
    done: dict[str, int] = {}
    for name in store.logs():
        n = prunable_tiles(store, name, before)
        if not n:
            continue
        last = store.tiles(name)[n - 1].last
        client.command("ALTER TABLE evidence_leaves DELETE WHERE log = {g:String} AND kafka_offset <= {o:Int64} "
                       "AND (kafka_offset, entry_id) <= ({o:Int64}, {i:String})",
                       parameters={"g": name, "o": last[0], "i": last[1]}, settings={"mutations_sync": 2})
        done[name] = n
        log.info("evidence log %s: pruned the leaves of %d tiles", name, n)
    return done

"""The log tables in ClickHouse: leaves, tiles and checkpoints (migration 0010).

A leaf's position is its rank in the table's order ``(log, kafka_offset,
entry_id)``; a *key* is that pair. Reads seek by key (the sorting key), never
by row number, so reading the tail of a 10-million-leaf log costs the tail.
"""

from __future__ import annotations

import struct
from datetime import datetime, timedelta, timezone
from dataclasses import dataclass
from typing import Any, Sequence

from clickhouse_connect.driver.client import Client

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
Key = tuple[int, str]  # (kafka_offset, entry_id)
_AFTER = "kafka_offset >= {o:Int64} AND (kafka_offset, entry_id) > ({o:Int64}, {i:String})"


@dataclass(frozen=True)
class Tile:
    index: int
    hash: bytes
    last: Key
    max_time: int  # micros


@dataclass(frozen=True)
class StoredCheckpoint:
    log: str
    origin: str
    size: int
    root: bytes
    note: str


def _after(key: Key | None) -> tuple[str, dict[str, Any]]:
    return (_AFTER, {"o": key[0], "i": key[1]}) if key else ("1", {})


class LogStore:
    """Reads and writes the evidence tables of one ClickHouse."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def new_leaves(self, log: str, after: Key | None) -> tuple[list[bytes], list[int]]:
        """Leaf hashes and entry times (micros) after ``after``, in leaf order."""
        cond, params = _after(after)
        raw = self.client.raw_query(
            f"SELECT leaf_hash, toUnixTimestamp64Micro(entry_time) FROM evidence_leaves WHERE log = {{log:String}} "
            f"AND {cond} ORDER BY kafka_offset, entry_id", parameters={"log": log, **params}, fmt="RowBinary")
        hashes = [raw[i:i + 32] for i in range(0, len(raw), 40)]
        times = [t for (t,) in struct.iter_unpack("<q", b"".join(raw[i + 32:i + 40] for i in range(0, len(raw), 40)))]
        return hashes, times

    def keys_at(self, log: str, after: Key | None, ranks: Sequence[int]) -> dict[int, Key]:
        """Keys of the leaves at these 1-based ranks counted after ``after`` (tile ends, the last leaf)."""
        cond, params = _after(after)
        rows = self.client.query(
            f"SELECT rn, kafka_offset, entry_id FROM (SELECT kafka_offset, entry_id, row_number() OVER "
            f"(ORDER BY kafka_offset, entry_id) AS rn FROM evidence_leaves WHERE log = {{log:String}} AND {cond}) "
            f"WHERE rn IN {{ranks:Array(UInt64)}}", parameters={"log": log, "ranks": list(ranks), **params}).result_rows
        return {int(r): (int(o), str(i)) for r, o, i in rows}

    def leaves_after(self, log: str, after: Key | None, limit: int) -> list[tuple[Key, bytes]]:
        """Up to ``limit`` leaves (key, hash) after ``after``: one tile's leaves."""
        cond, params = _after(after)
        rows = self.client.query(
            f"SELECT kafka_offset, entry_id, leaf_hash FROM evidence_leaves WHERE log = {{log:String}} AND {cond} "
            f"ORDER BY kafka_offset, entry_id LIMIT {int(limit)}", parameters={"log": log, **params}).result_rows
        return [((int(o), str(i)), _bytes(h)) for o, i, h in rows]

    def tiles(self, log: str) -> list[Tile]:
        rows = self.client.query(
            "SELECT tile_index, hash, last_offset, last_entry_id, toUnixTimestamp64Micro(max_time) "
            "FROM evidence_tiles FINAL WHERE log = {log:String} ORDER BY tile_index", parameters={"log": log}).result_rows
        return [Tile(int(n), _bytes(h), (int(o), str(i)), int(t)) for n, h, o, i, t in rows]

    def insert_tiles(self, log: str, tiles: Sequence[Tile]) -> None:
        if tiles:
            self.client.insert("evidence_tiles", [[log, t.index, t.hash, t.last[0], t.last[1], from_micros(t.max_time)]
                                                  for t in tiles],
                               column_names=["log", "tile_index", "hash", "last_offset", "last_entry_id", "max_time"])

    def insert_checkpoint(self, cp: StoredCheckpoint) -> None:
        self.client.insert("evidence_checkpoints", [[cp.log, cp.origin, cp.size, cp.root, cp.note]],
                           column_names=["log", "origin", "tree_size", "root_hash", "note"])

    def checkpoints(self, log: str) -> list[StoredCheckpoint]:
        rows = self.client.query(
            "SELECT log, origin, tree_size, root_hash, note FROM evidence_checkpoints FINAL WHERE log = {log:String} "
            "ORDER BY tree_size", parameters={"log": log}).result_rows
        return [StoredCheckpoint(str(lg), str(o), int(s), _bytes(r), str(n)) for lg, o, s, r, n in rows]

    def logs(self) -> list[str]:
        return [str(r[0]) for r in self.client.query("SELECT DISTINCT log FROM evidence_leaves ORDER BY log").result_rows]

    def find(self, entry_id: str) -> list[tuple[str, Key, str, str]]:
        """(log, key, kind, license) of the leaves of an entry id (one, unless ids repeat across logs)."""
        rows = self.client.query(
            "SELECT log, kafka_offset, entry_id, kind, license_id FROM evidence_leaves WHERE entry_id = {i:String}",
            parameters={"i": entry_id}).result_rows
        return [(str(lg), (int(o), str(i)), str(k), str(lic)) for lg, o, i, k, lic in rows]


def from_micros(t: int) -> datetime:
    return EPOCH + timedelta(microseconds=t)


def _bytes(value: Any) -> bytes:
    """FixedString comes back as bytes or str depending on the client's settings."""
    return value if isinstance(value, bytes) else str(value).encode("latin-1")

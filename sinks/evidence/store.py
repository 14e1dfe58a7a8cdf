"""The log tables in ClickHouse: leaves, tiles and checkpoints (migration 0010).

A leaf's position is its rank in the table's order ``(log, kafka_offset,
entry_id)``; a *key* is that pair. Reads seek by key (the sorting key), never
by row number, so reading the tail of a 10-million-leaf log costs the tail.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from dataclasses import dataclass
from typing import Any, Sequence

from clickhouse_connect.driver.client import Client

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
Key = tuple[int, str]  # (kafka_offset, entry_id)
_AFTER = "kafka_offset >= {o:Int64} AND (kafka_offset, entry_id) > ({o:Int64}, {i:String})"


TILE_LEAVES = 256
_LEVELS = ", ".join(f"arrayMap(i -> SHA256(concat(char(1), l{k}[2 * i - 1], l{k}[2 * i])), range(1, {TILE_LEAVES >> (k + 1)} + 1)) "
                    f"AS l{k + 1}" for k in range(8))
# Tiles of new leaves: rank the leaves of each log after its base, group them 256 at a time, hash each
# complete group level by level (8 levels: an aligned perfect subtree) in ClickHouse.
_ADVANCE = ("SELECT log, tile, n, if(n = " + str(TILE_LEAVES) + ", l8[1], toFixedString('', 32)) AS root, lo, li, mt, "
            "if(n < " + str(TILE_LEAVES) + ", l0, []) AS partial FROM ("
            "SELECT log, tile, count() AS n, argMax(kafka_offset, rn) AS lo, argMax(entry_id, rn) AS li, "
            "toUnixTimestamp64Micro(max(entry_time)) AS mt, "
            "arrayMap(x -> x.2, arraySort(x -> x.1, groupArray((rn, leaf_hash)))) AS l0, " + _LEVELS + " FROM ("
            "SELECT log, kafka_offset, entry_id, entry_time, leaf_hash, rn, intDiv(rn - 1, " + str(TILE_LEAVES) + ") AS tile "
            "FROM (SELECT log, kafka_offset, entry_id, entry_time, leaf_hash, "
            "row_number() OVER (PARTITION BY log ORDER BY kafka_offset, entry_id) AS rn "
            "FROM ({leaves}))) GROUP BY log, tile) ORDER BY log, tile")
# One branch per log, each a range of the sorting key (an OR of them would scan the whole table).
_LEAVES = "SELECT log, kafka_offset, entry_id, entry_time, leaf_hash FROM evidence_leaves WHERE {where}"


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

    def advance(self, bases: dict[str, Key | None]) -> dict[str, tuple[list[Tile], list[bytes]]]:
        """For each log, the tiles completed after ``base`` (the end of its last stored tile), hashed by
        ClickHouse, and the leaf hashes of the partial tile after them. One query for all logs of a flush:
        the leaves never travel to Python, only 32 bytes per 256 of them."""
        if not bases:
            return {}
        conds: list[str] = []
        params: dict[str, Any] = {}
        for n, (log, base) in enumerate(sorted(bases.items())):
            params[f"g{n}"] = log
            after = ("1" if base is None else f"kafka_offset >= {{o{n}:Int64}} AND (kafka_offset, entry_id) > "
                     f"({{o{n}:Int64}}, {{i{n}:String}})")
            if base is not None:
                params[f"o{n}"], params[f"i{n}"] = base
            conds.append(f"(log = {{g{n}:String}} AND {after})")
        out: dict[str, tuple[list[Tile], list[bytes]]] = {log: ([], []) for log in bases}
        for log, tile, n, root, lo, li, mt, partial in self.client.query(
                _ADVANCE.format(leaves=" UNION ALL ".join(_LEAVES.format(where=c) for c in conds)),
                parameters=params).result_rows:
            if n == TILE_LEAVES:
                out[str(log)][0].append(Tile(int(tile), _bytes(root), (int(lo), str(li)), int(mt)))
            else:
                out[str(log)][1].extend(_bytes(h) for h in partial)
        return out

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

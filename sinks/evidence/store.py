"""The log tables in ClickHouse: leaves, tiles and checkpoints (migration 0010).

A leaf's position is its rank in the table's order ``(log, kafka_offset,
entry_id)``; a *key* is that pair. Reads seek by key (the sorting key), never
by row number, so reading the tail of a 10-million-leaf log costs the tail.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from clickhouse_connect.driver.client import Client

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
Key = tuple[int, str]  # (kafka_offset, entry_id)
_AFTER = "kafka_offset >= {o:Int64} AND (kafka_offset, entry_id) > ({o:Int64}, {i:String})"


TILE_LEAVES = 256
# Tiles of new leaves: rank the leaves of each log after its base, group them 256 at a time, keep the complete
# groups and hash each level by level (8 levels: an aligned perfect subtree) in ClickHouse. Each level is its own
# subquery over the one before, pairing odd and even items without a lambda capture: a chain of aliases would be
# inlined into 2^8 copies of the expression, whose analysis alone cost ~100 ms of CPU per query (measured).
_GROUPS = ("SELECT log, tile, count() AS n, argMax(kafka_offset, rn) AS lo, argMax(entry_id, rn) AS li, "
           "toUnixTimestamp64Micro(max(entry_time)) AS mt, "
           "arrayMap(x -> x.2, arraySort(x -> x.1, groupArray((rn, leaf_hash)))) AS h FROM ("
           "SELECT log, kafka_offset, entry_id, entry_time, leaf_hash, rn, intDiv(rn - 1, " + str(TILE_LEAVES) + ") AS tile "
           "FROM (SELECT log, kafka_offset, entry_id, entry_time, leaf_hash, "
           "row_number() OVER (PARTITION BY log ORDER BY kafka_offset, entry_id) AS rn "
           "FROM ({leaves}))) GROUP BY log, tile HAVING n = " + str(TILE_LEAVES))
_LEVEL = ("SELECT log, tile, lo, li, mt, arrayMap((a, b) -> SHA256(concat(char(1), a, b)), "
          "arrayFilter((x, j) -> bitAnd(j, 1) = 1, h, arrayEnumerate(h)), "
          "arrayFilter((x, j) -> bitAnd(j, 1) = 0, h, arrayEnumerate(h))) AS h FROM ({inner})")
_TILES = "SELECT log, tile, h[1] AS root, lo, li, mt FROM ({levels}) ORDER BY log, tile"
# One branch per log, each a range of the sorting key (an OR of them would scan the whole table).
_LEAVES = "SELECT log, kafka_offset, entry_id, entry_time, leaf_hash FROM evidence_leaves WHERE {where}"


def _tiles_sql(leaves: str) -> str:
    levels = _GROUPS.replace("{leaves}", leaves)
    for _ in range(8):
        levels = _LEVEL.replace("{inner}", levels)
    return _TILES.replace("{levels}", levels)


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

    def advance(self, bases: dict[str, tuple[Key | None, int]]) -> dict[str, tuple[list[Tile], list[bytes]]]:
        """For each log whose leaves after ``base`` (the end of its last stored tile) are no longer the ``known``
        count, the tiles completed since, hashed by ClickHouse, and the leaf hashes of the partial tile after
        them; logs with nothing new are left out. A cheap count comes first, so an idle round costs a few ms;
        the leaves never travel to Python, only 32 bytes per 256 of them and the partial tile's hashes."""
        counts = self._counts({log: base for log, (base, _) in bases.items()})
        grown = {log: bases[log][0] for log, n in counts.items() if n != bases[log][1]}
        out: dict[str, tuple[list[Tile], list[bytes]]] = {log: ([], []) for log in grown}
        full = {log: base for log, base in grown.items() if counts[log] >= TILE_LEAVES}
        if full:
            where, params = _branches(full)
            for log, tile, root, lo, li, mt in self.client.query(_tiles_sql(where), parameters=params).result_rows:
                out[str(log)][0].append(Tile(int(tile), _bytes(root), (int(lo), str(li)), int(mt)))
        after = {log: (out[log][0][-1].last if out[log][0] else base) for log, base in grown.items()
                 if counts[log] % TILE_LEAVES}
        if after:
            where, params = _branches(after)
            # At most a partial tile: leaves written since the count wait for the next round.
            for log, h in self.client.query(f"SELECT log, leaf_hash FROM ({where}) ORDER BY log, kafka_offset, entry_id "
                                            f"LIMIT {TILE_LEAVES - 1} BY log", parameters=params).result_rows:
                out[str(log)][1].append(_bytes(h))
        return out

    def _counts(self, bases: dict[str, Key | None]) -> dict[str, int]:
        """How many leaves each log holds after its base (one query; the sorting key's ranges only)."""
        if not bases:
            return {}
        where, params = _branches(bases)
        found = {str(log): int(n) for log, n in self.client.query(
            f"SELECT log, count() FROM ({where}) GROUP BY log", parameters=params).result_rows}
        return {log: found.get(log, 0) for log in bases}

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

    def insert_tiles(self, tiles: Mapping[str, Sequence[Tile]]) -> None:
        """The new tiles of these logs, in one insert (each insert is a part to write and merge)."""
        rows = [[log, t.index, t.hash, t.last[0], t.last[1], from_micros(t.max_time)]
                for log, new in tiles.items() for t in new]
        if rows:
            self.client.insert("evidence_tiles", rows,
                               column_names=["log", "tile_index", "hash", "last_offset", "last_entry_id", "max_time"])

    def insert_checkpoints(self, cps: Sequence[StoredCheckpoint]) -> None:
        if cps:
            self.client.insert("evidence_checkpoints", [[cp.log, cp.origin, cp.size, cp.root, cp.note] for cp in cps],
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


def _branches(bases: dict[str, Key | None]) -> tuple[str, dict[str, Any]]:
    """The leaves of each log after its base: a ``UNION ALL`` of one key range per log, and its parameters."""
    conds: list[str] = []
    params: dict[str, Any] = {}
    for n, (log, base) in enumerate(sorted(bases.items())):
        params[f"g{n}"] = log
        after = ("1" if base is None else f"kafka_offset >= {{o{n}:Int64}} AND (kafka_offset, entry_id) > "
                 f"({{o{n}:Int64}}, {{i{n}:String}})")
        if base is not None:
            params[f"o{n}"], params[f"i{n}"] = base
        conds.append(f"(log = {{g{n}:String}} AND {after})")
    return " UNION ALL ".join(_LEAVES.format(where=c) for c in conds), params


def from_micros(t: int) -> datetime:
    return EPOCH + timedelta(microseconds=t)


def _bytes(value: Any) -> bytes:
    """FixedString comes back as bytes or str depending on the client's settings."""
    return value if isinstance(value, bytes) else str(value).encode("latin-1")

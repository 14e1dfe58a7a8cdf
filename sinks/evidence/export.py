"""Bundles for auditors: the entries in scope with their records, inclusion proofs and signed checkpoints.

One JSON format for all three commands (``export``, ``prove``, ``consistency``),
checked by ``verify.py``. Each entry carries the record's immutable fields (what
the leaf covers) and, apart, what may change after the fact (price and cost:
shown, not proven). Every log in a bundle comes with its latest checkpoint and
every earlier stored checkpoint with a consistency proof to it, so a witness's
copy of any published checkpoint can be compared.
"""

from __future__ import annotations

import base64
import uuid
from datetime import datetime, timedelta
from typing import Any, Iterable

from clickhouse_connect.driver.client import Client

from meterstream.schemas import BatchCodec
from meterstream.schemas.codec import MAGIC

from .errors import EvidenceError
from .proofs import TreeReader, covering_checkpoint
from .store import EPOCH, Key, LogStore, StoredCheckpoint
from .verify import BATCH_KINDS, BUNDLE_FORMAT, LEAF_SPECS

_USAGE_SELECT = ", ".join(
    {"event_id": "toString(event_id) AS event_id", "event_time": "toUnixTimestamp64Micro(event_time) AS event_time",
     "quantity": "toDecimalString(quantity, 6) AS quantity"}.get(name, name)
    for name, _ in LEAF_SPECS["usage.v2"][1])
_MUTABLE = "toString(unit_price) AS unit_price, toString(cost) AS cost, currency, price_version"
_ALERT_SELECT = ", ".join({"created_at": "toUnixTimestamp64Micro(created_at) AS created_at"}.get(name, name)
                          for name, _ in LEAF_SPECS["alert.v1"][1])
_TIME = "DateTime64(6, 'UTC')"
Leaf = tuple[str, Key, str, str, int]  # (log, key, kind, entry id, entry time micros)
_MUTABLE_FIELDS = ("unit_price", "cost", "currency", "price_version")
_ID_CHUNK = 10_000


def _rows(client: Client, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    result = client.query(sql, parameters=params, settings={"prefer_column_name_to_alias": 1})  # WHERE: the columns
    return [dict(zip(result.column_names, row)) for row in result.result_rows]


def _json_ready(record: dict[str, Any]) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else dict(v) if isinstance(v, dict) else v) for k, v in record.items()}


def usage_records(client: Client, license_id: str, start: datetime, end: datetime) -> dict[str, dict[str, Any]]:
    rows = _rows(client, f"SELECT {_USAGE_SELECT}, {_MUTABLE} FROM usage_events WHERE license_id = {{l:String}} "
                         f"AND event_time >= {{a:{_TIME}}} AND event_time < {{b:{_TIME}}}",
                 {"l": license_id, "a": start, "b": end})
    return {r["event_id"]: _json_ready(r) for r in rows}


def alert_records(client: Client, license_id: str, start: datetime, end: datetime) -> dict[str, dict[str, Any]]:
    rows = _rows(client, f"SELECT {_ALERT_SELECT} FROM alerts FINAL WHERE license_id = {{l:String}} "
                         f"AND created_at >= {{a:{_TIME}}} AND created_at < {{b:{_TIME}}}",
                 {"l": license_id, "a": start, "b": end})
    return {r["alert_id"]: _json_ready(r) for r in rows}


def leaves_in_scope(client: Client, license_id: str, start: datetime, end: datetime) -> list[Leaf]:
    """What the log says this license has in the time range: every leaf, stored record or not."""
    rows = client.query(
        f"SELECT log, kafka_offset, entry_id, kind, toUnixTimestamp64Micro(entry_time) FROM evidence_leaves "
        f"WHERE license_id = {{l:String}} AND entry_time >= {{a:{_TIME}}} AND entry_time < {{b:{_TIME}}} "
        f"ORDER BY log, kafka_offset, entry_id", parameters={"l": license_id, "a": start, "b": end}).result_rows
    return [(str(lg), (int(o), str(i)), str(k), str(i), int(t)) for lg, o, i, k, t in rows]


def log_section(reader: TreeReader, checkpoints: list[StoredCheckpoint]) -> dict[str, Any]:
    """The latest checkpoint of a log and every earlier one with its consistency proof.

    An earlier checkpoint inside a pruned range may have no proof any more: it is listed with the reason.
    """
    latest = checkpoints[-1]
    earlier: list[dict[str, Any]] = []
    for cp in checkpoints[:-1]:
        if not 0 < cp.size < latest.size:
            continue
        try:
            earlier.append({"checkpoint": cp.note,
                            "consistency": [_b64(h) for h in reader.consistency(cp.size, latest.size)]})
        except EvidenceError as exc:
            earlier.append({"checkpoint": cp.note, "consistency": None, "unprovable": str(exc)})
    return {"origin": latest.origin, "checkpoint": latest.note, "earlier": earlier}


def build_bundle(store: LogStore, leaves: Iterable[Leaf], records: dict[str, dict[str, Any]],
                 scope: dict[str, Any], batches: dict[tuple[str, int], "Message"] | None = None) -> dict[str, Any]:
    """Entries (in log order) with inclusion proofs at each log's latest checkpoint.

    A leaf of a batch kind (one per Kafka message) carries its body and the stored record of each of its
    events (``batches``: (log, offset) -> the message's body and event ids; ``records`` by event id).
    """
    readers: dict[str, TreeReader] = {}
    logs: list[dict[str, Any]] = []
    entries: list[dict[str, Any]] = []
    for log, key, kind, entry_id, t in leaves:
        if log not in readers:
            readers[log] = TreeReader(store, log)
            cps = store.checkpoints(log)
            if not cps:
                raise EvidenceError(f"log {log} has no checkpoint yet (`meterstream evidence checkpoint`)")
            logs.append(log_section(readers[log], cps))
        reader = readers[log]
        index = reader.locate(key)
        cp = covering_checkpoint(store, log, index)
        entry: dict[str, Any] = {"log": cp.origin, "index": index, "kind": kind, "id": entry_id, "time": t}
        if kind in BATCH_KINDS:
            message = (batches or {}).get((log, key[0]))
            if message is None:  # emptied by retention with the raw events (the verifier accepts it only then)
                entry.update(body=None, records=None, not_covered=None)
            else:
                found = [records.get(i) for i in message.event_ids]
                entry.update(body=base64.b64encode(message.body).decode(), records=found,
                             not_covered=[_split_mutable(r) for r in found])
        else:
            record = records.get(entry_id)
            entry.update(record=record, not_covered=_split_mutable(record))
        entries.append({**entry, "leaf_hash": _b64(reader.leaf(index)),
                        "inclusion": [_b64(h) for h in reader.inclusion(index, cp.size)]})
    return {"format": BUNDLE_FORMAT, "scope": scope, "logs": logs, "entries": entries}


def export(client: Client, license_id: str, start: datetime, end: datetime,
           retained_from: datetime | None = None) -> dict[str, Any]:
    """The bundle of one license's usage events and alerts (decisions when logged) in [start, end).

    A Kafka message of usage belongs to the range of its earliest event (its leaf's time) and is exported
    whole, with every one of its events.
    """
    leaves = leaves_in_scope(client, license_id, start, end)
    batches = messages(client, [(lg, k[0]) for lg, k, kind, _, _ in leaves if kind in BATCH_KINDS])
    per_event = any(kind in LEAF_SPECS and kind.startswith("usage") for _, _, kind, _, _ in leaves)  # logged before
    records = {**(usage_records(client, license_id, start, end) if per_event else {}),
               **alert_records(client, license_id, start, end),
               **records_by_id(client, [i for m in batches.values() for i in m.event_ids])}
    scope = {"license": license_id, "from": start.isoformat(), "to": end.isoformat(),
             "retained_from": int(retained_from.timestamp() * 1e6) if retained_from else None}
    return build_bundle(LogStore(client), leaves, records, scope, batches)


class Message:
    """A logged usage message: its body (newest batch schema, no header) and its events' ids in order."""

    _codec: BatchCodec | None = None

    def __init__(self, body: bytes) -> None:
        if Message._codec is None:
            Message._codec = BatchCodec()
        codec = Message._codec
        self.body = body
        batch = codec.decode(MAGIC + codec.schema.fingerprint + body, fields=("event_id",))
        self.event_ids = [_uuid_text(i) for i in batch.columns["event_id"]]


def messages(client: Client, keys: list[tuple[str, int]]) -> dict[tuple[str, int], Message]:
    """The logged messages at (log, offset) ``keys``, from the bodies stored beside their leaves."""
    out: dict[tuple[str, int], Message] = {}
    by_log: dict[str, list[int]] = {}
    for log, offset in keys:
        by_log.setdefault(log, []).append(offset)
    for log, offsets in by_log.items():
        for i in range(0, len(offsets), _ID_CHUNK):
            rows = client.query(
                "SELECT kafka_offset, body FROM evidence_leaves WHERE log = {g:String} "
                "AND kafka_offset IN {o:Array(Int64)} AND kind IN {k:Array(String)} AND body != ''",
                parameters={"g": log, "o": offsets[i:i + _ID_CHUNK], "k": list(BATCH_KINDS)},
                column_formats={"body": "bytes"}).result_rows
            for offset, body in rows:
                out[(log, int(offset))] = Message(bytes(body))
    return out


def records_by_id(client: Client, event_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The stored usage records of ``event_ids`` (what a logged message's events became in the audit trail)."""
    out: dict[str, dict[str, Any]] = {}
    unique = list(dict.fromkeys(event_ids))
    for i in range(0, len(unique), _ID_CHUNK):
        rows = _rows(client, f"SELECT {_USAGE_SELECT}, {_MUTABLE} FROM usage_events "
                             f"WHERE event_id IN {{ids:Array(UUID)}}", {"ids": unique[i:i + _ID_CHUNK]})
        out.update((r["event_id"], _json_ready(r)) for r in rows)
    return out


def _uuid_text(value: str) -> str:
    """An event id as ClickHouse prints it (lowercase, dashed), the key records are found by."""
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        return str(value)


def _split_mutable(record: dict[str, Any] | None) -> dict[str, Any] | None:
    """Take the fields repricing may change out of ``record`` (shown apart, not covered by the leaf)."""
    if record is None:
        return None
    return {k: record.pop(k) for k in _MUTABLE_FIELDS if k in record} or None


def prove(client: Client, entry_id: str) -> dict[str, Any]:
    """A bundle of one entry (usage event or alert) with its inclusion proof."""
    store = LogStore(client)
    found = store.find(entry_id) or _message_leaf(client, entry_id)
    if not found:
        raise EvidenceError(f"no leaf for {entry_id} in the evidence log")
    log, key, kind, license_id = found[0]
    t = int(str(client.command("SELECT toUnixTimestamp64Micro(entry_time) FROM evidence_leaves WHERE log = {g:String} "
                           "AND kafka_offset = {o:Int64} AND entry_id = {i:String}",
                           parameters={"g": log, "o": key[0], "i": key[1]})))
    if kind in BATCH_KINDS:  # the message that stored the event, with all its events
        batches = messages(client, [(log, key[0])])
        records = records_by_id(client, [i for m in batches.values() for i in m.event_ids])
        return build_bundle(store, [(log, key, kind, key[1], t)], records, {"entry": entry_id}, batches)
    at = EPOCH + timedelta(microseconds=t)
    fetch = usage_records if kind.startswith("usage") else alert_records
    records = fetch(client, license_id, at, at + timedelta(microseconds=1))
    return build_bundle(store, [(log, key, kind, entry_id, t)], records, {"entry": entry_id})


def _message_leaf(client: Client, event_id: str) -> list[tuple[str, Key, str, str]]:
    """The leaf of the message a usage event was stored from (logged per message), if any."""
    try:
        uuid.UUID(event_id)
    except ValueError:
        return []
    rows = client.query(
        "SELECT l.log, l.kafka_offset, l.entry_id, l.kind, l.license_id FROM evidence_leaves AS l "
        "INNER JOIN (SELECT concat(kafka_topic, '/', toString(kafka_partition)) AS log, kafka_offset "
        "FROM usage_events WHERE event_id = {e:UUID} LIMIT 1) AS u ON l.log = u.log AND l.kafka_offset = u.kafka_offset "
        "WHERE l.kind IN {k:Array(String)}", parameters={"e": event_id, "k": list(BATCH_KINDS)}).result_rows
    return [(str(lg), (int(o), str(i)), str(k), str(lic)) for lg, o, i, k, lic in rows]


def consistency(client: Client, log: str | None, old: int, new: int) -> dict[str, Any]:
    """A bundle proving that the checkpoint of size ``new`` extends the one of size ``old``."""
    store = LogStore(client)
    logs = [log] if log else store.logs()
    if len(logs) != 1:
        raise EvidenceError(f"give --log, one of: {', '.join(logs)}")
    cps = {cp.size: cp for cp in store.checkpoints(logs[0])}
    missing = [s for s in (old, new) if s not in cps]
    if missing or old > new:
        raise EvidenceError(f"log {logs[0]}: need stored checkpoints of sizes {old} <= {new}; "
                            f"have {sorted(cps)[-10:]}")
    section = log_section(TreeReader(store, logs[0]), [cps[old], cps[new]])
    if any(e["consistency"] is None for e in section["earlier"]):
        raise EvidenceError(section["earlier"][0]["unprovable"])
    return {"format": BUNDLE_FORMAT, "scope": {"log": logs[0], "old": old, "new": new}, "logs": [section],
            "entries": []}


def _b64(h: bytes) -> str:
    return base64.b64encode(h).decode()

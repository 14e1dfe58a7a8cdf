"""Offline verifier of a meterstream evidence bundle: standard library only, one file, for auditors.

    python -m meterstream.sinks.evidence.verify BUNDLE.json --public-key KEY [--witness CHECKPOINT]...

KEY is the log's verifier key (``meterstream evidence key public`` prints it:
``<name>+<key id hex>+<base64(0x01 || 32-byte Ed25519 key)>``). The verifier
trusts nothing else. It checks, in order, and names the first thing that fails:

1. every checkpoint (C2SP tlog-checkpoint: origin, tree size, base64 root hash)
   carries a valid Ed25519 signature by KEY (C2SP signed-note);
2. every earlier checkpoint of a log is consistent with its latest one (RFC 6962
   consistency proof), and so is every witness checkpoint given with --witness
   (a fork, a rewritten history, fails here);
3. every entry: its record is re-encoded into the leaf (the encoding is below, in
   ``LEAF_SPECS``), hashed, and its inclusion proof must lead to the signed root;
   entries of a log must come in increasing leaf order; an entry whose record is
   missing from the store is a failure unless it is older than what the bundle
   says retention removed. Records are first compared with the leaf hash the
   exporter read at their position, only to name a changed or swapped record
   precisely; the proof is the inclusion proof alone;
4. an entry of a batch kind (``BATCH_KINDS``: one leaf per Kafka message) carries
   the message's Avro body: its leaf is the prefix and the body, and each event
   decoded from the body (``decode_batch``) must equal its stored record.

Merkle tree: RFC 6962 / RFC 9162, SHA-256, leaf hash SHA-256(0x00 || leaf),
node hash SHA-256(0x01 || left || right). Exit status 0: verified; 1: a failure.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import sys
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Callable, Iterable, Sequence

BUNDLE_FORMAT = "meterstream.evidence.bundle.v1"

# -- the leaf: a record's immutable fields in a canonical byte encoding ------------------------------
#
# leaf = PREFIX || field_1 || field_2 || ...   each field in ClickHouse's RowBinary encoding of its type
# (so ClickHouse computes the same bytes with formatRowNoNewline('RowBinary', ...) as the event is stored):
#   "text"      String: LEB128 length of the UTF-8 bytes, then the bytes
#   "int"       Int64 little-endian (8 bytes, two's complement)
#   "time"      Int64 little-endian: microseconds since 1970-01-01 UTC
#   "decimal6"  Int64 little-endian: the value times 10^6 (exact; quantities have 6 decimals)
#   "list"      Array(String): LEB128 item count, then each item as "text"
#   "map"       LEB128 entry count, then key and value as "text", keys sorted by their UTF-8 bytes
#   nullable    "?" after the kind: one byte 1 for NULL (nothing follows), or 0 then the value

LEAF_SPECS: dict[str, tuple[bytes, tuple[tuple[str, str], ...]]] = {
    # Usage event v2: every field but what repricing may change (unit price, cost, currency, price version)
    # and where Kafka happened to put it.
    "usage.v2": (b"meterstream.usage.v2\n", (
        ("event_id", "text"), ("event_time", "time"), ("license_id", "text"), ("producer_id", "text"),
        ("sequence", "int"), ("feature", "text"), ("model", "text"), ("model_version", "text"),
        ("metric", "text"), ("quantity", "decimal6"), ("status", "text"), ("latency_us", "int?"),
        ("team", "text"), ("app", "text"), ("environment", "text"), ("purpose", "text"),
        ("hardware_id", "text"), ("region", "text"), ("input_hash", "text?"), ("output_hash", "text?"),
        ("provider", "text"), ("source", "text"), ("user_id", "text"), ("use_case", "text"),
        ("data_categories", "list"), ("sensitivity", "text"), ("trace_id", "text?"), ("stage", "text"),
        ("decision_id", "text?"), ("reservation_id", "text?"))),
    # An alert (alert.v1.avsc), all of it: alerts are never rewritten.
    "alert.v1": (b"meterstream.alert.v1\n", (
        ("alert_id", "text"), ("kind", "text"), ("severity", "text"), ("license_id", "text"),
        ("tenant", "text"), ("team", "text"), ("metric", "text"), ("period", "text"), ("threshold", "int?"),
        ("message", "text"), ("evidence", "map"), ("event_id", "text?"), ("created_at", "time"))),
    # Decisions and governance records get their own kind here when they are logged.
}

# A leaf per Kafka message of usage (since issue 16): leaf = PREFIX || the message's Avro binary body, a
# UsageBatch of usage_event.v2 (one array per field of the event kind, in its order; the single-object
# header left out, a message of an older version resolved to v2 by appending its default columns). The
# bundle carries the body and the stored record of each of its events; each record must equal its event
# encoded as the event kind's leaf (so every stored field the event kind covers is checked).
BATCH_KINDS: dict[str, tuple[bytes, str]] = {  # batch kind: (prefix, the kind of each of its events)
    "usage.batch.v2": (b"meterstream.usage.batch.v2\n", "usage.v2"),
}


def leb128(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _text(value: Any) -> bytes:
    raw = str(value).encode("utf-8")
    return leb128(len(raw)) + raw


def encode_field(kind: str, value: Any) -> bytes:
    """One field of a leaf (see the table above)."""
    if kind.endswith("?"):
        return b"\x01" if value is None else b"\x00" + encode_field(kind[:-1], value)
    if value is None:
        raise ValueError(f"a {kind} field cannot be null")
    if kind == "list":
        return leb128(len(value)) + b"".join(_text(v) for v in value)
    if kind == "map":
        items = sorted(((str(k), str(v)) for k, v in dict(value).items()), key=lambda kv: kv[0].encode())
        return leb128(len(items)) + b"".join(_text(k) + _text(v) for k, v in items)
    if kind == "decimal6":
        return int((Decimal(str(value)) * 10**6).to_integral_exact()).to_bytes(8, "little", signed=True)
    if kind in ("int", "time"):
        return int(value).to_bytes(8, "little", signed=True)
    return _text(value)


def leaf_bytes(kind: str, record: dict[str, Any]) -> bytes:
    """The canonical leaf of a record of ``kind`` (a key of LEAF_SPECS)."""
    prefix, fields = LEAF_SPECS[kind]
    return prefix + b"".join(encode_field(k, record[name]) for name, k in fields)


# -- a batch leaf's body: a small Avro reader for exactly the columnar UsageBatch layout ---------------
#
# The body is one Avro array per field of the event kind, in LEAF_SPECS order (the event kind of a batch
# kind covers every field of its schema). Each array is a run of blocks: a zig-zag varint count, then (if
# the count is negative) the block's size in bytes and -count items, or count items; a 0 ends the array.
# An event's field types follow from its leaf kinds (_AVRO_TYPES); tests check them against the .avsc.

_AVRO_TYPES: dict[str, Any] = {  # leaf field kind -> the field's Avro type in the event schema
    "text": "string", "int": "long", "time": "long", "list": {"type": "array", "items": "string"},
    "decimal6": {"type": "bytes", "logicalType": "decimal", "precision": 18, "scale": 6},
}
# Text fields the store keeps as UUID (printed lowercase with dashes), normalised on both sides before comparing.
UUID_FIELDS: dict[str, frozenset[str]] = {"usage.v2": frozenset({"event_id"})}


def avro_fields(kind: str) -> list[tuple[str, Any]]:
    """(name, Avro type) of each field of an event kind, as its schema declares them (logical types of text aside)."""
    return [(name, ["null", _AVRO_TYPES[k[:-1]]] if k.endswith("?") else _AVRO_TYPES[k])
            for name, k in LEAF_SPECS[kind][1]]


class _Corrupt(ValueError):
    """The body is not Avro of the expected layout."""


class _AvroReader:
    """Reads values at a position of a buffer; each value type gets its reading function once (``reader``)."""

    def __init__(self, buf: bytes) -> None:
        self.buf, self.pos = buf, 0

    def long(self) -> int:
        buf, pos = self.buf, self.pos
        if pos < len(buf) and buf[pos] < 0x80:  # one byte: small values, lengths, counts, union branches
            self.pos = pos + 1
            return (buf[pos] >> 1) ^ -(buf[pos] & 1)
        z = shift = 0
        while True:
            if pos >= len(buf):
                raise _Corrupt(f"truncated at byte {pos}")
            b = buf[pos]
            pos += 1
            z |= (b & 0x7F) << shift
            if b < 0x80:
                break
            shift += 7
            if shift >= 70:
                raise _Corrupt(f"varint longer than 10 bytes at byte {pos}")
        if z >> 64:
            raise _Corrupt(f"varint beyond 64 bits at byte {pos}")
        self.pos = pos
        return (z >> 1) ^ -(z & 1)

    def raw(self) -> bytes:
        n = self.long()
        if not 0 <= n <= len(self.buf) - self.pos:
            raise _Corrupt(f"length {n} at byte {self.pos} runs past the end" if n > 0 else f"negative length {n}")
        self.pos += n
        return self.buf[self.pos - n:self.pos]

    def string(self) -> str:
        at = self.pos
        try:
            return self.raw().decode("utf-8")
        except UnicodeDecodeError:
            raise _Corrupt(f"string at byte {at} is not UTF-8") from None

    def decimal(self, precision: int, scale: int) -> Decimal:
        unscaled = int.from_bytes(self.raw(), "big", signed=True)
        if abs(unscaled) >= 10 ** precision:
            raise _Corrupt(f"decimal beyond precision {precision} at byte {self.pos}")
        return Decimal(unscaled).scaleb(-scale)

    def reader(self, avro_type: Any) -> Callable[[], Any]:
        """The function reading one value of ``avro_type`` (a type of ``_AVRO_TYPES`` or ``["null", X]``)."""
        if isinstance(avro_type, list):
            inner = self.reader(avro_type[1])

            def union() -> Any:
                branch = self.long()
                if branch not in (0, 1):
                    raise _Corrupt(f"union branch {branch} at byte {self.pos}")
                return inner() if branch else None
            return union
        if avro_type in ("string", "long"):
            return self.string if avro_type == "string" else self.long
        if avro_type["type"] == "array":
            items = self.reader(avro_type["items"])
            return lambda: self.array(items)
        return lambda: self.decimal(avro_type["precision"], avro_type["scale"])

    def array(self, read: Callable[[], Any]) -> list[Any]:
        out: list[Any] = []
        while True:
            count = self.long()
            if count == 0:
                return out
            size, start = None, 0
            if count < 0:
                count, size = -count, self.long()
                start = self.pos
                if not 0 <= size <= len(self.buf) - start:
                    raise _Corrupt(f"block of {size} bytes at byte {start} runs past the end")
            if count > len(self.buf) - self.pos:  # every item takes a byte at least
                raise _Corrupt(f"block of {count} items at byte {self.pos} runs past the end")
            out.extend([read() for _ in range(count)])
            if size is not None and self.pos - start != size:
                raise _Corrupt(f"block at byte {start} says {size} bytes, its items take {self.pos - start}")


def decode_batch(kind: str, body: bytes) -> list[dict[str, Any]]:
    """The events of a columnar batch body of event ``kind``; ValueError saying what is wrong with it."""
    reader, columns = _AvroReader(body), []
    for name, avro_type in avro_fields(kind):
        try:
            columns.append((name, reader.array(reader.reader(avro_type))))
        except _Corrupt as exc:
            raise ValueError(f"field {name}: {exc}") from None
    if reader.pos != len(body):
        raise ValueError(f"{len(body) - reader.pos} trailing bytes after the last field")
    counts = {name: len(values) for name, values in columns}
    if len(set(counts.values())) > 1:
        raise ValueError(f"its fields hold different numbers of events: {counts}")
    names = [name for name, _ in columns]
    return [dict(zip(names, row)) for row in zip(*(values for _, values in columns))]


_UUID_TEXT = re.compile("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _uuid_text(value: Any) -> Any:
    if isinstance(value, str) and _UUID_TEXT.fullmatch(value):
        return value  # already as ClickHouse prints it
    try:
        return str(uuid.UUID(value))
    except (TypeError, ValueError, AttributeError):
        return value  # not a UUID: compared as it is


class EventLeaves:
    """``leaf_bytes`` of the events and records of one batch, UUID text normalised (ClickHouse prints it lowercase).

    The bytes of a field's str, int or null value are computed once per batch (license, model, team... repeat
    in every event of a message); other values are encoded each time. Same bytes as ``leaf_bytes``.
    """

    def __init__(self, kind: str) -> None:
        self.prefix, self.fields = LEAF_SPECS[kind]
        self.uuids = UUID_FIELDS.get(kind, frozenset())
        self.seen: list[dict[Any, bytes]] = [{} for _ in self.fields]

    def __call__(self, record: dict[str, Any]) -> bytes:
        parts = [self.prefix]
        for (name, kind), seen in zip(self.fields, self.seen):
            value = record[name]
            if name in self.uuids:
                value = _uuid_text(value)
            if value is None or type(value) is str or type(value) is int:  # equal means same bytes (not for 1.0)
                encoded = seen.get(value)
                if encoded is None:
                    encoded = seen[value] = encode_field(kind, value)
            else:
                encoded = encode_field(kind, value)
            parts.append(encoded)
        return b"".join(parts)


# -- RFC 6962 hashing and proof checks ---------------------------------------------------------------

def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes | None:
    """The root an inclusion proof leads to from ``leaf`` (a leaf hash), or None if malformed (RFC 9162 2.1.3.2)."""
    if index >= size:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return r if sn == 0 else None


def consistent(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> bool:
    """True if the tree of ``new_size`` leaves extends the one of ``old_size`` (RFC 9162 2.1.4.2)."""
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0 or old_size > new_size:
        return old_size == 0 and not proof
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is the first node
        path = [old_root, *path]
    if not path:
        return False
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == old_root and sr == new_root


# -- Ed25519 verification (RFC 8032 section 5.1.7), pure Python ----------------------------------------

_P = 2**255 - 19
_Q = 2**252 + 27742317777372353535851937790883648493  # the group order L
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)
Point = tuple[int, int, int, int]  # extended coordinates (X, Y, Z, T), x = X/Z, y = Y/Z, xy = T/Z


def _add(a: Point, b: Point) -> Point:
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    aa, bb = (y1 - x1) * (y2 - x2) % _P, (y1 + x1) * (y2 + x2) % _P
    cc, dd = 2 * t1 * t2 * _D % _P, 2 * z1 * z2 % _P
    e, f, g, h = bb - aa, dd - cc, dd + cc, bb + aa
    return e * f % _P, g * h % _P, f * g % _P, e * h % _P


def _mul(s: int, pt: Point) -> Point:
    acc: Point = (0, 1, 1, 0)
    while s:
        if s & 1:
            acc = _add(acc, pt)
        pt, s = _add(pt, pt), s >> 1
    return acc


def _recover_x(y: int, sign: int) -> int | None:
    if y >= _P:
        return None
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P:
        return None
    return _P - x if (x & 1) != sign else x


def _decompress(s: bytes) -> Point | None:
    y = int.from_bytes(s, "little")
    sign, y = y >> 255, y & ((1 << 255) - 1)
    x = _recover_x(y, sign)
    return None if x is None else (x, y, 1, x * y % _P)


_GY = 4 * pow(5, _P - 2, _P) % _P
_G: Point = (_recover_x(_GY, 0) or 0, _GY, 1, (_recover_x(_GY, 0) or 0) * _GY % _P)


def ed25519_verify(public: bytes, message: bytes, signature: bytes) -> bool:
    """True if ``signature`` is ``public``'s Ed25519 signature of ``message`` (cofactorless check, [S]B = R + [k]A)."""
    if len(public) != 32 or len(signature) != 64:
        return False
    a, r = _decompress(public), _decompress(signature[:32])
    s = int.from_bytes(signature[32:], "little")
    if a is None or r is None or s >= _Q:
        return False
    k = int.from_bytes(hashlib.sha512(signature[:32] + public + message).digest(), "little") % _Q
    left, right = _mul(s, _G), _add(r, _mul(k, a))
    return (left[0] * right[2] - right[0] * left[2]) % _P == 0 and (left[1] * right[2] - right[1] * left[2]) % _P == 0


# -- keys and signed checkpoints (C2SP signed-note, tlog-checkpoint) ----------------------------------

@dataclass(frozen=True)
class VerifierKey:
    """``<name>+<key id hex>+<base64(0x01 || public key)>``: the only thing an auditor must trust."""

    name: str
    key_id: bytes
    public: bytes

    @classmethod
    def parse(cls, text: str) -> "VerifierKey":
        name, key_id, blob = text.strip().split("+", 2)
        raw = base64.b64decode(blob)
        if raw[:1] != b"\x01" or len(raw) != 33:
            raise ValueError("not an Ed25519 verifier key (expected base64 of 0x01 || 32 bytes)")
        key = cls(name, bytes.fromhex(key_id), raw[1:])
        if key_id_of(name, key.public) != key.key_id:
            raise ValueError("verifier key: key id does not match name and public key")
        return key


def key_id_of(name: str, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n\x01" + public).digest()[:4]


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    note: str


def open_checkpoint(note: str, key: VerifierKey) -> Checkpoint:
    """Parse a signed checkpoint and check KEY's signature on it; raise ValueError saying what is wrong."""
    text, sep, sigs = note.rpartition("\n\n")
    if not sep:
        raise ValueError("not a signed note (no blank line before the signatures)")
    body = text + "\n"
    lines = body.split("\n")
    if len(lines) < 4:
        raise ValueError("checkpoint body needs origin, tree size and root hash lines")
    origin, size, root = lines[0], int(lines[1]), base64.b64decode(lines[2])
    ok = False
    for line in sigs.splitlines():
        if not line.startswith("\u2014 "):
            raise ValueError(f"malformed signature line {line!r}")
        name, blob = line[2:].rsplit(" ", 1)
        raw = base64.b64decode(blob)
        if name == key.name and raw[:4] == key.key_id:
            if not ed25519_verify(key.public, body.encode(), raw[4:]):
                raise ValueError(f"bad signature by {key.name} on checkpoint {origin} size {size}")
            ok = True
    if not ok:
        raise ValueError(f"checkpoint {origin} size {size} carries no signature by key {key.name}+{key.key_id.hex()}")
    if len(root) != 32:
        raise ValueError("root hash is not 32 bytes")
    return Checkpoint(origin, size, root, note)


# -- the bundle -----------------------------------------------------------------------------------------

class Failure(Exception):
    """The first thing in a bundle that does not verify."""


def _b64s(items: Iterable[str]) -> list[bytes]:
    return [base64.b64decode(x) for x in items]


def check_logs(bundle: dict[str, Any], key: VerifierKey, witnesses: Sequence[str]) -> dict[str, Checkpoint]:
    """Signatures, consistency of earlier and witness checkpoints; the latest checkpoint of each log."""
    latest: dict[str, Checkpoint] = {}
    for log in bundle["logs"]:
        try:
            cp = open_checkpoint(log["checkpoint"], key)
        except ValueError as exc:
            raise Failure(f"log {log['origin']}: latest checkpoint: {exc}") from None
        if cp.origin != log["origin"]:
            raise Failure(f"log {log['origin']}: checkpoint is for origin {cp.origin}")
        latest[cp.origin] = cp
        for earlier in log.get("earlier", []):
            if earlier.get("consistency") is None:
                continue  # no longer provable (its leaves were pruned); a witness of this size cannot be checked
            try:
                old = open_checkpoint(earlier["checkpoint"], key)
            except ValueError as exc:
                raise Failure(f"log {cp.origin}: earlier checkpoint: {exc}") from None
            if old.origin != cp.origin or not consistent(old.size, cp.size, old.root, cp.root,
                                                         _b64s(earlier["consistency"])):
                raise Failure(f"log {cp.origin}: checkpoint size {old.size} is not consistent with size {cp.size} "
                              "(history rewritten?)")
    for note in witnesses:
        check_witness(bundle, note, key, latest)
    return latest


def check_witness(bundle: dict[str, Any], note: str, key: VerifierKey, latest: dict[str, Checkpoint]) -> None:
    """A checkpoint a witness kept must be the same tree as, or a prefix of, the bundle's log."""
    try:
        w = open_checkpoint(note, key)
    except ValueError as exc:
        raise Failure(f"witness checkpoint: {exc}") from None
    cp = latest.get(w.origin)
    if cp is None:
        return  # a witness of another log: nothing in this bundle to compare
    if w.size > cp.size:
        raise Failure(f"log {w.origin}: a witness holds size {w.size}, larger than the bundle's {cp.size} "
                      "(log truncated or rolled back)")
    proofs = {open_checkpoint(e["checkpoint"], key).size: e for log in bundle["logs"] if log["origin"] == w.origin
              for e in log.get("earlier", []) if e.get("consistency") is not None}
    if w.size == cp.size:
        ok = w.root == cp.root
    elif w.size in proofs:
        ok = open_checkpoint(proofs[w.size]["checkpoint"], key).root == w.root and consistent(
            w.size, cp.size, w.root, cp.root, _b64s(proofs[w.size]["consistency"]))
    else:
        raise Failure(f"log {w.origin}: no consistency proof from the witness's size {w.size} in this bundle "
                      f"(meterstream evidence consistency {w.size} {cp.size})")
    if not ok:
        raise Failure(f"log {w.origin}: fork: the witness's checkpoint of size {w.size} does not match this "
                      "log's history")


@dataclass
class Tally:
    """What a bundle's entries came to: entries proven, events of batch entries checked, what retention removed."""

    entries: int = 0
    batches: int = 0
    events: int = 0
    removed: int = 0
    removed_events: int = 0

    def summary(self) -> str:
        events = f" ({self.events:,} events)" if self.batches else ""
        removed = "".join([f", {self.removed} removed by retention" if self.removed else "",
                           f", {self.removed_events:,} events removed by retention" if self.removed_events else ""])
        return f"{self.entries} entries{events} verified{removed}"


def check_entries(bundle: dict[str, Any], latest: dict[str, Checkpoint]) -> Tally:
    """Every entry's leaf is in its log's signed tree, in order. Returns what was verified.

    Two passes, so the failure named is the most precise one: first each record against the leaf the log
    stores at its position (a changed or moved record is named here), then each recomputed leaf against
    the signed root (only this pass is proof: the stored leaf hash is the exporter's word; a log rewritten
    after it was signed fails here).
    """
    leaves, tally = _entry_leaves(bundle)
    for n, e, leaf in leaves:
        cp = latest[e["log"]]
        if root_from_inclusion(e["index"], cp.size, leaf, _b64s(e["inclusion"])) != cp.root:
            raise Failure(f"{_what(n, e)}: its inclusion proof does not lead to the signed root of size {cp.size} "
                          "(the log was changed after it was signed)")
    tally.entries = len(leaves)
    return tally


def _what(n: int, e: dict[str, Any]) -> str:
    return f"entry {n} ({e['kind']} {e['id']}, log {e['log']} leaf {e['index']})"


def _entry_leaves(bundle: dict[str, Any]) -> tuple[list[tuple[int, dict[str, Any], bytes]], Tally]:
    """First pass: order, presence, scope; each record re-encoded and compared with the stored leaf."""
    scope, latest_origins = bundle.get("scope", {}), {log["origin"] for log in bundle["logs"]}
    last: dict[str, int] = {}
    out, tally = [], Tally()
    for n, e in enumerate(bundle["entries"], 1):
        if e["log"] not in latest_origins:
            raise Failure(f"{_what(n, e)}: no checkpoint of its log in the bundle")
        if e["index"] <= last.get(e["log"], -1):
            raise Failure(f"{_what(n, e)}: out of order (leaf {e['index']} after leaf {last[e['log']]})")
        last[e["log"]] = e["index"]
        if e["kind"] in BATCH_KINDS:
            if e.get("body") is None and scope.get("retained_from") is not None and e["time"] < scope["retained_from"]:
                tally.removed += 1  # a message whose body retention emptied with its events (from its first event)
                continue
            out.append((n, e, _batch_leaf(n, e, scope, tally)))
            continue
        if e["record"] is None:
            if scope.get("retained_from") is not None and e["time"] < scope["retained_from"]:
                tally.removed += 1
                continue
            raise Failure(f"{_what(n, e)}: the record is missing from the store (deleted)")
        if scope.get("license") and e["record"].get("license_id") != scope["license"]:
            raise Failure(f"{_what(n, e)}: belongs to license {e['record'].get('license_id')}, not {scope['license']}")
        try:
            leaf = leaf_hash(leaf_bytes(e["kind"], e["record"]))
        except (KeyError, ValueError, ArithmeticError) as exc:
            raise Failure(f"{_what(n, e)}: record cannot be encoded: {exc!r}") from None
        if e.get("leaf_hash") is not None and base64.b64decode(e["leaf_hash"]) != leaf:
            raise Failure(f"{_what(n, e)}: the record differs from the leaf the log holds at its position "
                          "(changed after it was logged, or swapped with another)")
        out.append((n, e, leaf))
    return out, tally


def _batch_leaf(n: int, e: dict[str, Any], scope: dict[str, Any], tally: Tally) -> bytes:
    """The leaf hash of a batch entry (prefix + body), once each event of its body matched its stored record."""
    prefix, kind = BATCH_KINDS[e["kind"]]
    try:
        body = base64.b64decode(e["body"], validate=True)
    except (KeyError, TypeError, ValueError):
        raise Failure(f"{_what(n, e)}: its message body is missing or not base64") from None
    leaf = leaf_hash(prefix + body)
    if e.get("leaf_hash") is not None and base64.b64decode(e["leaf_hash"]) != leaf:
        raise Failure(f"{_what(n, e)}: the message differs from the leaf the log holds at its position")
    try:
        events = decode_batch(kind, body)
    except ValueError as exc:
        raise Failure(f"{_what(n, e)}: its body is not a {e['kind']} message: {exc}") from None
    records = e.get("records")
    if not isinstance(records, list) or len(records) != len(events):
        got = f"{len(records)} records" if isinstance(records, list) else "no list of records"
        raise Failure(f"{_what(n, e)}: {got} for the {len(events)} events of its message (one per event, in order)")
    leaves = EventLeaves(kind)
    for i, (event, record) in enumerate(zip(events, records)):
        problem = _event_problem(leaves, event, record, scope)
        if problem is _RETAINED:
            tally.removed_events += 1
        elif problem:
            raise Failure(f"{_what(n, e)}: records[{i}] (event {event['event_id']}): {problem}")
        else:
            tally.events += 1
    tally.batches += 1
    return leaf


_RETAINED = "removed by retention"  # not a problem: the event is older than what retention removed


def _event_problem(leaves: EventLeaves, event: dict[str, Any], record: Any, scope: dict[str, Any]) -> str | None:
    """What is wrong with one event of a batch and its stored record, _RETAINED if retention removed it, or None."""
    license_id, retained_from = scope.get("license"), scope.get("retained_from")
    if license_id and event["license_id"] != license_id:
        return f"the log holds an event of license {event['license_id']} here, not {license_id}"
    if record is None:
        if retained_from is not None and event["event_time"] < retained_from:
            return _RETAINED
        return "the record is missing from the store (deleted)"
    if license_id and isinstance(record, dict) and record.get("license_id") != license_id:
        return f"the stored record belongs to license {record.get('license_id')}, not {license_id}"
    try:
        same = leaves(record) == leaves(event)
    except (KeyError, ValueError, ArithmeticError, TypeError, AttributeError) as exc:
        return f"record cannot be encoded: {exc!r}"
    return None if same else "the stored record differs from the event the log holds (changed after it was logged)"


def verify_bundle(bundle: dict[str, Any], key: VerifierKey, witnesses: Sequence[str] = ()) -> str:
    """Verify a whole bundle; return a one-line summary, or raise Failure naming the first failure."""
    if bundle.get("format") != BUNDLE_FORMAT:
        raise Failure(f"not an evidence bundle of format {BUNDLE_FORMAT}")
    latest = check_logs(bundle, key, witnesses)
    tally = check_entries(bundle, latest)
    logs = ", ".join(f"{cp.origin} size {cp.size}" for cp in latest.values())
    return f"OK: {tally.summary()} against {len(latest)} signed log(s): {logs}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m meterstream.sinks.evidence.verify", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundle", help="the bundle (JSON) from `meterstream evidence export|prove|consistency`")
    parser.add_argument("--public-key", required=True, help="verifier key text, or a file holding it")
    parser.add_argument("--witness", action="append", default=[], help="a checkpoint a witness kept (file)")
    args = parser.parse_args(argv)
    try:
        key = VerifierKey.parse(_text_or_file(args.public_key))
        with open(args.bundle, encoding="utf-8") as f:
            bundle = json.load(f)
        print(verify_bundle(bundle, key, [_text_or_file(w) for w in args.witness]))
        return 0
    except Failure as exc:
        print(f"FAIL: {exc}")
        return 1
    except (ValueError, KeyError, OSError) as exc:
        print(f"FAIL: unreadable input: {exc!r}")
        return 1


def _text_or_file(value: str) -> str:
    try:
        with open(value, encoding="utf-8") as f:
            return f.read()
    except OSError:
        return value


if __name__ == "__main__":
    sys.exit(main())

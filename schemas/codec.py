"""Wire format: Avro single-object encoding, with a fast columnar path for usage batches.

Every message value is ``C3 01`` + the writer schema's 8-byte fingerprint + the
Avro binary body. Usage batches are encoded and decoded here without fastavro's
per-value overhead: columns that hold one repeated value (license, model,
team... in a batch of one license) are written with a single bytes
multiplication, and each array is written as one block with a negative count
and a byte size (allowed by the Avro spec) so a reader can skip a column it
does not need without walking it. The output is plain Avro: fastavro and
ClickHouse's ``FORMAT Avro`` read it (tests check both).

Decimal columns travel as *unscaled integers* (value x 10^scale) in Python, so
sums stay exact and no ``Decimal`` is built on the hot path.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from typing import Any, Iterable, Sequence, cast

from fastavro import schemaless_reader, schemaless_writer

from . import bulk
from .errors import DecodeError, SchemaError, UnknownSchemaError
from .registry import USAGE_BATCH, USAGE_EVENT, SchemaRegistry, SchemaVersion, default_registry

MAGIC = b"\xc3\x01"
HEADER_LEN = 10


def decode_header(value: bytes) -> bytes:
    """Return the writer fingerprint of a message, or raise DecodeError."""
    if len(value) < HEADER_LEN or value[:2] != MAGIC:
        raise DecodeError("not an Avro single-object message (bad magic or too short)")
    return bytes(value[2:HEADER_LEN])


# -- varints ---------------------------------------------------------------

def _zz_encode_slow(n: int) -> bytes:
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while z >= 0x80:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


_SMALL = [_zz_encode_slow(i) for i in range(-8192, 8192)]


def zz(n: int) -> bytes:
    """Avro zig-zag varint of a long."""
    if -8192 <= n < 8192:
        return _SMALL[n + 8192]
    return _zz_encode_slow(n)


def read_long(buf: bytes, pos: int) -> tuple[int, int]:
    """Read one zig-zag varint at pos; return (value, new position)."""
    b = buf[pos]
    pos += 1
    if b < 0x80:
        return (b >> 1) ^ -(b & 1), pos
    z = b & 0x7F
    shift = 7
    while True:
        b = buf[pos]
        pos += 1
        z |= (b & 0x7F) << shift
        if b < 0x80:
            return (z >> 1) ^ -(z & 1), pos
        shift += 7
        if shift > 63:
            raise DecodeError("varint longer than 10 bytes")


# -- column kinds ----------------------------------------------------------

STR, LONG, BOOL, DEC, OPT_STR, OPT_LONG = "str", "long", "bool", "dec", "opt_str", "opt_long"
# An array of strings per event (data_categories): the column is an array of arrays. Decoded as tuples:
# immutable, so a block of one repeated value shares one, and decoded rows stay hashable.
ARR_STR = "arr_str"


def column_kind(avro_type: Any) -> str | None:
    """The column kind of an event field type, or None if the batch codec cannot carry it."""
    if isinstance(avro_type, list):
        if len(avro_type) == 2 and avro_type[0] == "null":
            inner = column_kind(avro_type[1])
            return {STR: OPT_STR, LONG: OPT_LONG}.get(inner or "")
        return None
    if isinstance(avro_type, dict):
        if avro_type.get("logicalType") == "decimal" and avro_type["type"] == "bytes":
            return DEC
        if avro_type["type"] == "array":
            return ARR_STR if column_kind(avro_type["items"]) == STR else None
        avro_type = avro_type["type"]
    return {"string": STR, "long": LONG, "int": LONG, "boolean": BOOL}.get(avro_type)


def _varint(u: int) -> bytes:
    out = bytearray()
    while u >= 0x80:
        out.append((u & 0x7F) | 0x80)
        u >>= 7
    out.append(u)
    return bytes(out)


# Encoding tables for non-negative longs (the usual case: times, counts, sequences):
# _POS[v] is zz(v) for v < 8192; _LO2[z] the two low varint bytes of z (with their
# continuation bits); _VAR[u] the plain varint of u < 16384.
_POS = _SMALL[8192:]
_LO2 = [bytes([(z & 0x7F) | 0x80, ((z >> 7) & 0x7F) | 0x80]) for z in range(16384)]
_VAR = [_varint(u) for u in range(16384)]
_LANES: dict[tuple[int, int], tuple[list[int], int]] = {}
_DEC_CACHE: dict[Any, bytes] = {}


def _long_items(vals: Sequence[int]) -> list[bytes]:
    """zz() of every value, through tables when the range allows (~10x faster than zz())."""
    lo, hi = min(vals), max(vals)
    if lo >= 0 and hi < 8192:
        return [_POS[v] for v in vals]
    if lo >= 0 and hi < 1 << 27:
        return [_POS[v] if v < 8192 else _LO2[(v << 1) & 0x3FFF] + _VAR[v >> 13] for v in vals]
    return [zz(v) for v in vals]


def _lane_masks(n: int, length: int) -> tuple[list[int], int]:
    """Masks of the first ``length`` 7-bit groups of n 64-bit lanes, and of the continuation
    bits of their first ``length - 1`` bytes."""
    masks = _LANES.get((n, length))
    if masks is None:
        rep = ((1 << (64 * n)) - 1) // ((1 << 64) - 1)
        cont = int.from_bytes(b"\x80" * (length - 1) + b"\x00" * (9 - length), "little")
        masks = ([(0x7F << (7 * k)) * rep for k in range(length)], cont * rep)
        if len(_LANES) > 256:
            _LANES.clear()
        _LANES[(n, length)] = masks
    return masks


def _varint_length(z: int) -> int:
    return max(1, (z.bit_length() + 6) // 7)


def _encode_longs(vals: Sequence[int]) -> bytes:
    """The items of a long column. When all values are positive and their varints have one
    length L (2..8 bytes: timestamps, most sequence ranges), the column is encoded at once with
    big-integer operations on the packed column instead of a Python step per value: each value
    is spread into its 7-bit groups in a 64-bit lane, continuation bits are set on its first
    L - 1 bytes, and the zero padding bytes (never part of such a varint) are removed."""
    n = len(vals)
    if n >= 16:
        lo, hi = min(vals), max(vals)
        length = _varint_length(hi << 1)
        if lo > 0 and hi < 1 << 55 and length >= 2 and _varint_length(lo << 1) == length:
            z = int.from_bytes(struct.pack(f"<{n}Q", *vals), "little") << 1
            groups, out = _lane_masks(n, length)
            for k, mask in enumerate(groups):
                out |= (z & mask) << k
            packed = out.to_bytes(8 * n, "little")
            # translate() deletes in one table pass; replace() pays per occurrence (17x slower for
            # 2-byte varints, 6 zero bytes a lane)
            return packed if length == 8 else packed.translate(None, b"\x00")
    return b"".join(_long_items(vals))


encode_longs = _encode_longs  # the items of a long column, unframed (the producer's sequence chunks)


def _encode_same_length_strs(vals: Sequence[str], opt: bool) -> bytes | None:
    """Strings of one length and ASCII only (ids, hashes): one join instead of a loop, or None."""
    size = len(vals[0])
    if len(set(map(len, vals))) != 1:
        return None
    body = "".join(vals)
    if not body.isascii():
        return None
    sep = ("\x02" if opt else "") + zz(size).decode("latin-1")
    return (sep + sep.join(vals)).encode("latin-1")


def _encode_sparse_same_length_strs(vals: Sequence[str | None]) -> bytes | None:
    """Nullable ids of one length, some absent (trace ids on some calls only): one join, or None."""
    present = [v for v in vals if v is not None]
    if not present or len(set(map(len, present))) != 1 or not "".join(present).isascii():
        return None
    sep = "\x02" + zz(len(present[0])).decode("latin-1")
    return "".join(["\x00" if v is None else sep + v for v in vals]).encode("latin-1")


def _encode_items(kind: str, vals: Sequence[Any]) -> bytes:
    n = len(vals)
    first = vals[0]
    if vals[-1] == first and vals.count(first) == n:  # the last value first: ids and times differ at once
        return _encode_one(kind, first) * n
    if kind == LONG:
        return _encode_longs(vals)
    if kind == OPT_LONG and None not in vals:
        return b"\x02" + b"\x02".join(_long_items(vals))
    if kind in (STR, OPT_STR) and (kind == STR or None not in vals):
        fast = _encode_same_length_strs(vals, kind == OPT_STR)
        if fast is not None:
            return fast
    elif kind == OPT_STR:
        fast = _encode_sparse_same_length_strs(vals)
        if fast is not None:
            return fast
    cache: dict[Any, bytes]
    if kind == DEC:  # quantities repeat across batches: the cache outlives one batch
        cache = _DEC_CACHE
        if len(cache) > 65_536:
            cache.clear()
    elif kind in (STR, OPT_STR):
        cache = {}
    elif kind == ARR_STR:
        return _encode_string_arrays(vals)
    else:
        return b"".join([_encode_one(kind, v) for v in vals])
    lookup = cache.__getitem__
    try:
        return b"".join(map(lookup, vals))  # no Python step per value (the usual case: all cached)
    except KeyError:
        for v in set(vals).difference(cache):
            cache[v] = _encode_one(kind, v)
        return b"".join(map(lookup, vals))


def _encode_string_arrays(vals: Sequence[Sequence[str]]) -> bytes:
    """Items of an array-of-strings column; lists repeat within a batch (a service's few data
    categories), so each distinct one is encoded once, keyed by its tuple."""
    cache: dict[tuple[str, ...], bytes] = {}
    out = []
    for v in vals:
        key = tuple(v)
        item = cache.get(key)
        if item is None:
            item = cache[key] = _encode_one(ARR_STR, key)
        out.append(item)
    return b"".join(out)


def _encode_one(kind: str, v: Any) -> bytes:
    if kind == STR:
        b = v.encode()
        return zz(len(b)) + b
    if kind == LONG:
        return zz(v)
    if kind == DEC:
        b = v.to_bytes((v.bit_length() + 8) // 8, "big", signed=True)
        return zz(len(b)) + b
    if kind == BOOL:
        return b"\x01" if v else b"\x00"
    if kind == ARR_STR:  # one positive-count block; an empty array is just the end marker
        return zz(len(v)) + b"".join([_encode_one(STR, x) for x in v]) + b"\x00" if v else b"\x00"
    if v is None:
        return b"\x00"
    return b"\x02" + _encode_one(STR if kind == OPT_STR else LONG, v)


def encode_column(kind: str, vals: Sequence[Any]) -> bytes:
    """One Avro array: a single block with negative count and byte size, then the end marker."""
    if not vals:
        return b"\x00"
    body = _encode_items(kind, vals)
    return zz(-len(vals)) + zz(len(body)) + body + b"\x00"


def _decode_items(kind: str, buf: bytes, pos: int, n: int, out: list[Any]) -> int:
    append = out.append
    # Each loop reads a one-byte varint (lengths under 64, small values) inline, other ones by read_long.
    if kind == STR:
        for _ in range(n):
            b = buf[pos]
            if b < 0x80:
                ln, pos = (b >> 1) ^ -(b & 1), pos + 1
            else:
                ln, pos = read_long(buf, pos)
            end = pos + ln
            append(buf[pos:end].decode())
            pos = end
    elif kind == LONG:
        for _ in range(n):
            b = buf[pos]
            if b < 0x80:
                append((b >> 1) ^ -(b & 1))
                pos += 1
            elif buf[pos + 1] < 0x80:  # two bytes (values under 8192: sequences, counts)
                z = (b & 0x7F) | (buf[pos + 1] << 7)
                append((z >> 1) ^ -(z & 1))
                pos += 2
            else:
                v, pos = read_long(buf, pos)
                append(v)
    elif kind == DEC:
        from_bytes = int.from_bytes
        for _ in range(n):
            b = buf[pos]
            if b < 0x80:
                ln, pos = (b >> 1) ^ -(b & 1), pos + 1
            else:
                ln, pos = read_long(buf, pos)
            end = pos + ln
            append(from_bytes(buf[pos:end], "big", signed=True))
            pos = end
    elif kind == BOOL:
        for _ in range(n):
            append(buf[pos] == 1)
            pos += 1
    elif kind == ARR_STR:
        for _ in range(n):
            items, pos = decode_column(STR, buf, pos, True)
            append(tuple(items or ()))
    else:
        inner = STR if kind == OPT_STR else LONG
        for _ in range(n):
            idx = buf[pos]
            pos += 1
            if idx == 0:
                append(None)
            else:
                pos = _decode_items(inner, buf, pos, 1, out)
    return pos


def _repeated(kind: str, buf: bytes, pos: int, count: int, size: int, out: list[Any]) -> bool:
    """A block holding one value ``count`` times (license, model, team... of a batch): decode it once.

    The block is checked to be exactly one encoded item repeated, at C speed, so
    this never changes what is decoded, only how fast.
    """
    if count < 2 or size % count:
        return False
    width = size // count
    item = buf[pos:pos + width]
    if buf[pos:pos + size] != item * count:
        return False
    one: list[Any] = []
    if _decode_items(kind, item, 0, 1, one) != width:
        return False
    out.extend(one * count)
    return True


def decode_column(kind: str, buf: bytes, pos: int, keep: bool) -> tuple[list[Any] | None, int]:
    """Read (or skip, when keep is False and the writer gave block sizes) one array."""
    out: list[Any] | None = [] if keep else None
    scratch: list[Any] = []
    while True:
        b = buf[pos]
        if b < 0x80:  # a one-byte count (blocks under 64 items, the end marker): read inline
            count, pos = (b >> 1) ^ -(b & 1), pos + 1
        else:
            count, pos = read_long(buf, pos)
        if count == 0:
            return out, pos
        if count < 0:
            count = -count
            b = buf[pos]
            if b < 0x80:
                size, pos = (b >> 1) ^ -(b & 1), pos + 1
            else:
                size, pos = read_long(buf, pos)
            if out is None:
                pos += size
                continue
            if _repeated(kind, buf, pos, count, size, out):
                pos += size
                continue
            if kind == LONG and count >= bulk.MIN_ITEMS:
                values = bulk.longs(buf, pos, count, size)
                if values is not None:
                    out.extend(values)
                    pos += size
                    continue
        pos = _decode_items(kind, buf, pos, count, out if out is not None else scratch)
        scratch.clear()


# -- batches ---------------------------------------------------------------

@dataclass
class Batch:
    """Decoded usage batch: ``count`` events, one list per requested field."""

    count: int
    columns: dict[str, list[Any]]
    writer: SchemaVersion

    def rows(self) -> Iterable[dict[str, Any]]:
        names = list(self.columns)
        for values in zip(*(self.columns[n] for n in names)):
            yield dict(zip(names, values))


class BatchCodec:
    """Encodes and decodes usage batches (columnar UsageBatch records)."""

    def __init__(self, registry: SchemaRegistry | None = None, version: int | None = None) -> None:
        """Reads every known version, resolved to the newest; writes the newest, or ``version``
        (what a producer of that release writes: tests of old writers, a pinned rollout)."""
        self.registry = registry or default_registry()
        self.reader = self.registry.latest(USAGE_BATCH)
        self.schema = self._writer(version)
        self.header = MAGIC + self.schema.fingerprint
        self._plans: dict[bytes, list[tuple[str, str]]] = {}
        self._defaults = event_defaults(self.registry)

    def _writer(self, version: int | None) -> SchemaVersion:
        if version is None:
            return self.reader
        for sv in self.registry.versions(USAGE_BATCH):
            if sv.version == version:
                return sv
        raise SchemaError(f"no usage_event v{version} among the shipped schemas")

    def plan(self, sv: SchemaVersion) -> list[tuple[str, str]]:
        """(field, column kind) per field; a field type without a fast path is a schema error."""
        plan = self._plans.get(sv.fingerprint)
        if plan is None:
            plan = []
            for f in sv.schema["fields"]:
                kind = column_kind(f["type"]["items"])
                if kind is None:
                    raise SchemaError(f"usage_event v{sv.version}: field {f['name']!r} has a type the batch "
                                      f"codec does not carry (string, long/int, boolean, decimal bytes, "
                                      f"array of strings, or a null union of string/long)")
                plan.append((f["name"], kind))
            self._plans[sv.fingerprint] = plan
        return plan

    def encode(self, columns: dict[str, Sequence[Any]]) -> bytes:
        """Encode a batch given as one sequence per field (all of the same length).

        A column left out gets its field's default in every row, so code that builds
        columns of an earlier version keeps working; a field without a default must be given.
        """
        parts = [self.header]
        n = -1
        for name, kind in self.plan(self.schema):
            col = columns.get(name)
            if col is None:
                if n < 0:
                    n = _column_length(columns)
                col = self._default_column(name, n)
            parts.append(encode_column(kind, col))
        return b"".join(parts)

    def _default_column(self, name: str, n: int) -> list[Any]:
        if name not in self._defaults:
            raise ValueError(f"batch is missing column {name!r} (it has no default)")
        return [self._defaults[name]] * n  # encoded only: sharing one default object is harmless

    def decode(self, value: bytes, fields: Iterable[str] | None = None) -> Batch:
        """Decode a message; with ``fields``, only those columns are materialised."""
        writer = self.registry.by_fingerprint(decode_header(value))
        if writer.subject != USAGE_BATCH:
            raise UnknownSchemaError(f"message holds {writer.subject}, not a usage batch")
        wanted = set(fields) if fields is not None else None
        try:
            columns, pos = {}, HEADER_LEN
            for name, kind in self.plan(writer):
                col, pos = decode_column(kind, value, pos, wanted is None or name in wanted)
                if col is not None:
                    columns[name] = col
            if pos != len(value):
                raise DecodeError(f"{len(value) - pos} trailing bytes after the batch")
        except (IndexError, UnicodeDecodeError, ValueError, EOFError) as exc:
            raise DecodeError(f"truncated or corrupt usage batch: {exc}") from exc
        count = len(next(iter(columns.values()))) if columns else batch_count(value)
        if any(len(c) != count for c in columns.values()):
            raise DecodeError("usage batch columns differ in length")
        self._resolve(writer, columns, count, wanted)
        return Batch(count, columns, writer)

    def _resolve(self, writer: SchemaVersion, columns: dict[str, list[Any]], count: int,
                 wanted: set[str] | None) -> None:
        """Avro resolution for added fields: fill the reader's default; drop removed ones."""
        if writer.fingerprint == self.reader.fingerprint:
            return
        reader_fields = self.reader.field_names
        for name in list(columns):
            if name not in reader_fields:
                del columns[name]
        for name in reader_fields:
            if name not in columns and (wanted is None or name in wanted):
                if name not in self._defaults:
                    raise DecodeError(f"writer lacks {name!r} and the reader has no default")
                default = self._defaults[name]
                columns[name] = [tuple(default) if isinstance(default, list) else default] * count


def event_defaults(registry: SchemaRegistry) -> dict[str, Any]:
    """Default of every field of the newest usage event that has one (a v1 writer's missing fields)."""
    return {f["name"]: f["default"] for f in registry.latest(USAGE_EVENT).schema["fields"] if "default" in f}


def _column_length(columns: dict[str, Sequence[Any]]) -> int:
    lengths = {len(c) for c in columns.values()}
    if len(lengths) > 1:
        raise ValueError(f"batch columns differ in length ({sorted(lengths)})")
    return lengths.pop() if lengths else 0


def batch_count(value: bytes) -> int:
    """Number of events in a usage batch message, read from its first column's block header."""
    count, _ = read_long(value, HEADER_LEN)
    return abs(count)


class RecordCodec:
    """Single-object encoding of one record with fastavro (licenses, alerts: low volume)."""

    def __init__(self, subject: str, registry: SchemaRegistry | None = None) -> None:
        self.registry = registry or default_registry()
        self.subject = subject
        self.schema = self.registry.latest(subject)
        self.header = MAGIC + self.schema.fingerprint

    def encode(self, record: dict[str, Any]) -> bytes:
        buf = io.BytesIO()
        buf.write(self.header)
        schemaless_writer(buf, self.schema.parsed, record)
        return buf.getvalue()

    def decode(self, value: bytes) -> dict[str, Any]:
        writer = self.registry.by_fingerprint(decode_header(value))
        if writer.subject != self.subject:
            raise UnknownSchemaError(f"message holds {writer.subject}, not {self.subject}")
        buf = io.BytesIO(value[HEADER_LEN:])
        try:
            record = schemaless_reader(buf, writer.parsed, self.schema.parsed)
        except Exception as exc:  # fastavro raises many types on corrupt input
            raise DecodeError(f"corrupt {self.subject} record: {exc}") from exc
        if buf.tell() != len(value) - HEADER_LEN:
            raise DecodeError(f"trailing bytes after the {self.subject} record")
        return cast(dict[str, Any], record)

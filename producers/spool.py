"""The on-disk spool: a crash-safe, append-only log of encoded batches.

Every batch the meter builds is appended here *before* it is handed to Kafka
(write-ahead), as the exact message bytes, so a replay after an outage or a
crash sends identical messages with identical event ids and sequence numbers.
A record is acknowledged when Kafka acknowledged its message; a segment file is
deleted once it is rolled and all its records are acknowledged.

Framing of one record (little-endian)::

    MAGIC (4) | payload length (4) | CRC-32 of payload (4) | payload
    payload = key length (2) | key (license id, UTF-8) | message value
    MAGIC2 records (with Kafka headers: the signed offline-usage chain, ``protect/offline.py``):
    payload = key length (2) | key | headers length (4) | headers | message value
    headers = count (1) | (name length (1) | name | value length (4) | value) ...

The magic lets the reader resynchronise after a damaged record: it reports the
damage (log + ``corrupt_records`` counter), scans forward to the next magic
whose CRC checks, and keeps every intact record after it.
"""

from __future__ import annotations

import fcntl
import logging
import os
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from . import settings as _settings
from .errors import SpoolError, SpoolFullError

__all__ = ["Headers", "Pos", "ScanStats", "Spool", "SpoolError", "SpoolFullError", "SpoolRecord", "frame", "open_spool", "scan"]

log = logging.getLogger(__name__)

MAGIC = b"\xf0MS1"
MAGIC2 = b"\xf0MS2"
_HEAD = struct.Struct("<4sII")
HEAD_LEN = _HEAD.size
MAX_RECORD = 64 << 20
SUFFIX = ".seg"

Pos = tuple[int, int]  # (segment number, byte offset of the record)
Headers = list[tuple[str, bytes]]


@dataclass
class SpoolRecord:
    """One intact record read back from disk."""

    pos: Pos
    key: bytes
    value: bytes
    headers: Headers = field(default_factory=list)


def encode_headers(headers: Headers) -> bytes:
    out = [struct.pack("<B", len(headers))]
    for name, value in headers:
        n = name.encode()
        out.append(struct.pack("<B", len(n)) + n + struct.pack("<I", len(value)) + value)
    return b"".join(out)


def decode_headers(data: bytes) -> Headers:
    (count,), pos, out = struct.unpack_from("<B", data), 1, []
    for _ in range(count):
        (nlen,) = struct.unpack_from("<B", data, pos)
        name = data[pos + 1:pos + 1 + nlen].decode()
        (vlen,) = struct.unpack_from("<I", data, pos + 1 + nlen)
        start = pos + 5 + nlen
        out.append((name, data[start:start + vlen]))
        pos = start + vlen
    return out


def frame(key: bytes, value: bytes, headers: Headers | None = None) -> bytes:
    """The bytes of one record (MAGIC2 framing when it carries headers)."""
    if not headers:
        payload = struct.pack("<H", len(key)) + key + value
        return _HEAD.pack(MAGIC, len(payload), zlib.crc32(payload)) + payload
    blob = encode_headers(headers)
    payload = struct.pack("<H", len(key)) + key + struct.pack("<I", len(blob)) + blob + value
    return _HEAD.pack(MAGIC2, len(payload), zlib.crc32(payload)) + payload


@dataclass
class ScanStats:
    """What a scan of segment files found wrong."""

    corrupt_records: int = 0
    skipped_bytes: int = 0


def scan(data: bytes, seg: int, stats: ScanStats, quiet: bool = False) -> Iterator[SpoolRecord]:
    """Intact records of one segment's bytes; damaged spans are reported (unless quiet) and skipped."""
    pos, end = 0, len(data)
    while pos < end:
        rec = _parse_at(data, pos, seg)
        if rec is not None:
            yield rec[0]
            pos = rec[1]
            continue
        nxt = _resync(data, pos + 1, seg)
        stats.corrupt_records += 1
        stats.skipped_bytes += nxt - pos
        if not quiet:
            log.error("spool segment %d: damaged record at offset %d, skipped %d bytes", seg, pos, nxt - pos)
        pos = nxt


def _parse_at(data: bytes, pos: int, seg: int) -> tuple[SpoolRecord, int] | None:
    if pos + HEAD_LEN > len(data):
        return None
    magic, length, crc = _HEAD.unpack_from(data, pos)
    start, stop = pos + HEAD_LEN, pos + HEAD_LEN + length
    if magic not in (MAGIC, MAGIC2) or length < 2 or length > MAX_RECORD or stop > len(data):
        return None
    payload = data[start:stop]
    if zlib.crc32(payload) != crc:
        return None
    (klen,) = struct.unpack_from("<H", payload)
    if 2 + klen > length:
        return None
    key, rest = payload[2:2 + klen], payload[2 + klen:]
    if magic == MAGIC:
        return SpoolRecord((seg, pos), key, rest), stop
    (hlen,) = struct.unpack_from("<I", rest)
    return SpoolRecord((seg, pos), key, rest[4 + hlen:], decode_headers(rest[4:4 + hlen])), stop


def _resync(data: bytes, pos: int, seg: int) -> int:
    """Offset of the next record that parses, or the end of the data."""
    while True:
        i = data.find(MAGIC[:3], pos)  # MAGIC or MAGIC2
        if i < 0:
            return len(data)
        if _parse_at(data, i, seg) is not None:
            return i
        pos = i + 1


@dataclass
class _Segment:
    number: int
    path: Path
    size: int = 0
    unacked: set[int] = field(default_factory=set)
    synced: bool = True


class Spool:
    """Segments of framed records in one directory, owned by one process (flock)."""

    def __init__(self, directory: Path, *, max_bytes: int, segment_bytes: int, fsync: bool) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self.fsync_enabled = fsync
        self.stats = ScanStats()
        self._segments: dict[int, _Segment] = {}
        self._bytes = 0  # sum of the segments' sizes, kept as they change (append checks it every record)
        self._fd: int | None = None
        self._lock_fd = self._lock()
        self._recover()
        self._active = self._open_segment(max(self._segments, default=0) + 1)

    # -- opening

    def _lock(self) -> int:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.directory / "LOCK", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise SpoolError(f"spool directory {self.directory} is not usable: {exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise SpoolError(f"spool directory {self.directory} is in use by another process") from None
        return fd

    def _recover(self) -> None:
        """Index the records left by an earlier process: all of them are to be replayed."""
        for path in sorted(self.directory.glob(f"*{SUFFIX}")):
            number = int(path.stem)
            seg = _Segment(number, path, path.stat().st_size)
            seg.unacked = {r.pos[1] for r in scan(path.read_bytes(), number, self.stats)}
            self._segments[number] = seg
            self._bytes += seg.size
            if not seg.unacked:
                self._delete(seg)
        if self._segments:
            log.warning("spool %s: %d records from an earlier run to replay", self.directory, self.pending())

    def _open_segment(self, number: int) -> _Segment:
        path = self.directory / f"{number:020d}{SUFFIX}"
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        seg = self._segments[number] = _Segment(number, path)
        if self.fsync_enabled:
            self._sync_dir()
        return seg

    # -- writing

    @property
    def total_bytes(self) -> int:
        return self._bytes

    def append(self, key: bytes, value: bytes, headers: Headers | None = None) -> Pos:
        """Write one record (not yet fsynced); raise SpoolFullError beyond ``max_bytes``."""
        data = frame(key, value, headers)
        if self.total_bytes + len(data) > self.max_bytes:
            raise SpoolFullError(f"spool {self.directory} is full ({self.total_bytes} of {self.max_bytes} "
                                 f"bytes): Kafka has not acknowledged its records")
        seg = self._active
        if seg.size and seg.size + len(data) > self.segment_bytes:
            seg = self._roll()
        os.write(self._fd, data)  # type: ignore[arg-type]
        pos = (seg.number, seg.size)
        seg.size += len(data)
        self._bytes += len(data)
        seg.unacked.add(pos[1])
        seg.synced = False
        return pos

    def sync(self) -> None:
        """fsync what was written since the last sync."""
        if not self._active.synced and self._fd is not None:
            os.fsync(self._fd)
            self._active.synced = True

    def _roll(self) -> _Segment:
        old = self._active
        if self.fsync_enabled:
            self.sync()
        os.close(self._fd)  # type: ignore[arg-type]
        self._active = self._open_segment(old.number + 1)
        if not old.unacked:
            self._delete(old)
        return self._active

    def _sync_dir(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    # -- acknowledging and reading back

    def ack(self, pos: Pos) -> None:
        """Kafka acknowledged this record; delete its segment once rolled and fully acknowledged."""
        seg = self._segments.get(pos[0])
        if seg is None:
            return
        seg.unacked.discard(pos[1])
        if not seg.unacked and seg is not self._active:
            self._delete(seg)

    def pending(self) -> int:
        """Records not yet acknowledged."""
        return sum(len(s.unacked) for s in self._segments.values())

    def unacked(self, limit_bytes: int, skip: set[Pos]) -> list[SpoolRecord]:
        """The oldest unacknowledged records (not in ``skip``), in log order, up to ``limit_bytes``."""
        out: list[SpoolRecord] = []
        size = 0
        for number in sorted(self._segments):
            seg = self._segments[number]
            todo = {o for o in seg.unacked if (number, o) not in skip}
            if not todo:
                continue
            found = [r for r in scan(seg.path.read_bytes(), number, ScanStats(), quiet=True)
                     if r.pos[1] in todo]
            self._forget_damaged(seg, todo - {r.pos[1] for r in found})
            for rec in found:
                out.append(rec)
                size += len(rec.value)
                if size >= limit_bytes:
                    return out
        return out

    def _forget_damaged(self, seg: _Segment, lost: set[int]) -> None:
        """Records written by this process that no longer read back intact: reported, then dropped."""
        for offset in sorted(lost):
            log.error("spool segment %d: record at offset %d is damaged on disk and cannot be replayed",
                      seg.number, offset)
            self.stats.corrupt_records += 1
            self.ack((seg.number, offset))

    def _delete(self, seg: _Segment) -> None:
        try:
            seg.path.unlink()
        except FileNotFoundError:
            pass
        del self._segments[seg.number]
        self._bytes -= seg.size

    def close(self) -> None:
        """Close the files; delete the active segment if nothing in it awaits Kafka."""
        if self._fd is not None:
            if self.fsync_enabled:
                self.sync()
            os.close(self._fd)
            self._fd = None
            if not self._active.unacked:
                self._delete(self._active)
        os.close(self._lock_fd)


SPOOL_SLOTS = 64


def open_spool(s: _settings.ProducerSettings) -> Spool:
    """The configured spool directory; by default the first free ``slot-N`` under the data dir, so a
    restarted service takes over (and replays) the slot its killed predecessor left."""
    def make(path: Path) -> Spool:
        return Spool(path, max_bytes=s.spool_max_bytes, segment_bytes=s.spool_segment_bytes,
                     fsync=s.fsync != "never")
    if s.spool_dir is not None:
        return make(s.spool_dir)
    root = _settings.default_spool_dir()
    for slot in range(SPOOL_SLOTS):
        try:
            return make(root / f"slot-{slot}")
        except SpoolError as exc:
            if "in use" not in str(exc):
                raise
    raise SpoolError(f"all {SPOOL_SLOTS} spool slots under {root} are in use: set spool_dir")

"""Encrypted model weights: chunked AES-256-GCM that streams with bounded memory, and a loader that
decrypts only under a valid license, into memory, never to disk.

File layout::

    b"MSWENC1\\0" | header length (4, little-endian) | header (canonical JSON) | chunks
    header = {"v", "alg": "aes-256-gcm-stream", "model", "version", "key_id", "chunk_size",
              "plain_size", "salt", "format"}
    chunk  = ciphertext length (4) | AES-256-GCM(file key, nonce = index (11 bytes) | final (1), plain,
                                                 aad = SHA-256(header))

The file key is HKDF(content key, salt) with a random salt per file, so nonces built
from the chunk index never repeat under one key. Because the nonce carries the index
and the final flag and the AAD the header, a changed byte, a reordered, dropped or
foreign chunk, and a truncated file all fail to authenticate (the STREAM construction
of Hoang, Reyhanitabar, Rogaway and Vizár). The content key comes from the license
file (``kdf.weights_key``): per model version, or per license with ``model encrypt --license``.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import struct
from pathlib import Path
from typing import IO, Any, Iterator

from . import errors as e
from .deps import require
from .kdf import aesgcm, hkdf, weights_key_id
from .keys import b64, unb64

MAGIC = b"MSWENC1\x00"
CHUNK_SIZE = 4 << 20
_LEN = struct.Struct("<I")


def _nonce(index: int, final: bool) -> bytes:
    return index.to_bytes(11, "big") + (b"\x01" if final else b"\x00")


def _file_key(content_key: bytes, salt: bytes) -> Any:
    return aesgcm(hkdf(content_key, "meterstream/weights/file/v1", salt))


def encrypt_weights(src: Path, dst: Path, content_key: bytes, *, model: str, version: str, license_id: str = "",
                    chunk_size: int = CHUNK_SIZE) -> dict[str, Any]:
    """Encrypt ``src`` into ``dst`` chunk by chunk (memory: about two chunks); return the header."""
    salt, size = secrets.token_bytes(32), src.stat().st_size
    header = {"v": 1, "alg": "aes-256-gcm-stream", "model": model, "version": version,
              "key_id": weights_key_id(model, version, license_id), "chunk_size": chunk_size,
              "plain_size": size, "salt": b64(salt), "format": "safetensors"}
    raw = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    aad, cipher = hashlib.sha256(raw).digest(), _file_key(content_key, salt)
    tmp = dst.with_name(dst.name + ".tmp")
    with src.open("rb") as fin, tmp.open("wb") as fout:
        fout.write(MAGIC + _LEN.pack(len(raw)) + raw)
        for index, (chunk, final) in enumerate(_chunks(fin, chunk_size)):
            ct = cipher.encrypt(_nonce(index, final), chunk, aad)
            fout.write(_LEN.pack(len(ct)) + ct)
    tmp.replace(dst)
    return header


def _chunks(f: IO[bytes], size: int) -> Iterator[tuple[bytes, bool]]:
    """(chunk, is_final) pairs; an empty input is one empty final chunk."""
    current = f.read(size)
    while True:
        nxt = f.read(size) if len(current) == size else b""
        yield current, not nxt
        if not nxt:
            return
        current = nxt


# What every header carries (read before anything is decrypted).
HEADER_FIELDS = ("model", "version", "key_id", "salt")


def read_header(f: IO[bytes]) -> tuple[dict[str, Any], bytes]:
    """The header and its SHA-256 (the chunks' AAD); WeightsError if this is no encrypted weights file."""
    head = f.read(len(MAGIC) + _LEN.size)
    if len(head) < len(MAGIC) + _LEN.size or head[:len(MAGIC)] != MAGIC:
        raise e.WeightsError("not a meterstream encrypted weights file")
    (n,) = _LEN.unpack_from(head, len(MAGIC))
    raw = f.read(n)
    try:
        header: dict[str, Any] = json.loads(raw)
    except ValueError:
        raise e.WeightsTamperedError("weights header damaged") from None
    missing = [k for k in HEADER_FIELDS if k not in header] if isinstance(header, dict) else list(HEADER_FIELDS)
    if missing:
        raise e.WeightsTamperedError(f"weights header damaged: no {', '.join(missing)}")
    return header, hashlib.sha256(raw).digest()


def decrypt_weights(f: IO[bytes], header: dict[str, Any], aad: bytes, content_key: bytes) -> bytearray:
    """The plaintext, decrypted chunk by chunk into one buffer; refuses any chunk that does not authenticate."""
    cipher, invalid = _file_key(content_key, unb64(header["salt"])), require("cryptography.exceptions").InvalidTag
    out = bytearray()
    index, ct = 0, _read_chunk(f, 0)
    while ct is not None:
        nxt = _read_chunk(f, index + 1)
        final = nxt is None
        try:
            out += cipher.decrypt(_nonce(index, final), ct, aad)
        except invalid:
            raise _chunk_error(cipher, index, ct, aad, final, invalid) from None
        index, ct = index + 1, nxt
    if index == 0:
        raise e.WeightsTruncatedError("weights file has no chunks: truncated")
    return out


def _read_chunk(f: IO[bytes], index: int) -> bytes | None:
    head = f.read(_LEN.size)
    if not head:
        return None
    if len(head) < _LEN.size:
        raise e.WeightsTruncatedError(f"weights file truncated inside chunk {index}")
    (n,) = _LEN.unpack(head)
    ct = f.read(n)
    if len(ct) < n:
        raise e.WeightsTruncatedError(f"weights file truncated inside chunk {index}")
    return ct


def _chunk_error(cipher: Any, index: int, ct: bytes, aad: bytes, final: bool,
                 invalid: type[Exception]) -> e.WeightsError:
    """Truncated (the last chunk present authenticates as a non-final one) or tampered."""
    if final:
        try:
            cipher.decrypt(_nonce(index, False), ct, aad)
            return e.WeightsTruncatedError(f"weights file ends after chunk {index}, which is not the final "
                                           f"chunk: truncated or its last chunks dropped")
        except invalid:
            pass
    return e.WeightsTamperedError(f"weights chunk {index} does not authenticate: bytes changed, chunks "
                                  f"reordered or dropped, or a chunk from another file")


def open_weights(path: Path, content_key: bytes) -> tuple[dict[str, Any], bytearray]:
    with Path(path).open("rb") as f:
        header, aad = read_header(f)
        return header, decrypt_weights(f, header, aad, content_key)


def plain_size_ok(header: dict[str, Any], data: bytearray) -> None:
    if int(header.get("plain_size", len(data))) != len(data):
        raise e.WeightsTruncatedError(f"decrypted {len(data)} bytes, header says {header['plain_size']}")


def env_license_key() -> str | None:
    return os.environ.get("METERSTREAM_LICENSE_KEY")

"""Ed25519 keys: the vendor's signing keys (generated, rotated, retired), the keys a machine trusts,
the per-machine key that signs offline usage, and the vendor's weights master secret.

Layout under ``<data dir>/keys/`` (secrets 0600, folders 0700)::

    signing/<kid>.key   vendor private key (raw 32 bytes, base64)   signing/<kid>.pub   its public key line
    signing/CURRENT     the key id new license files are signed with
    trusted/<kid>.pub   public keys a customer machine accepts (copied from the vendor)
    machine.key         this machine's offline-usage signing key
    master.key          vendor master secret that weights content keys and watermark keys derive from

A public key line is ``ed25519 <kid> <base64 raw key>``; ``kid`` is the first 16 hex
digits of the key's SHA-256, so a file names the key that signed it without revealing
anything. Several public keys are trusted at once, so a rotation never breaks files
signed with the previous key. Secrets are never logged or printed.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from meterstream.config import default_data_dir

from .deps import require
from .errors import ProtectError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def keys_dir() -> Path:
    return default_data_dir() / "keys"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text.encode(), validate=True)


def key_id(public: bytes) -> str:
    return hashlib.sha256(public).hexdigest()[:16]


def write_secret(path: Path, data: bytes) -> None:
    """Create ``path`` with mode 0600 (never readable by others, not even briefly); refuse to overwrite."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def read_secret(path: Path) -> bytes:
    """A secret file's bytes; refuse one that others can read (a leaked key is not a key)."""
    try:
        mode = path.stat().st_mode & 0o077
        data = path.read_bytes()
    except OSError as exc:
        raise ProtectError(f"cannot read key {path}: {exc.strerror}") from None
    if mode:
        raise ProtectError(f"key {path} is readable by group or others: chmod 600 it")
    return data


def private_key(raw: bytes) -> "Ed25519PrivateKey":
    ed = require("cryptography.hazmat.primitives.asymmetric.ed25519")
    return ed.Ed25519PrivateKey.from_private_bytes(raw)


def public_bytes(key: "Ed25519PrivateKey") -> bytes:
    ser = require("cryptography.hazmat.primitives.serialization")
    return key.public_key().public_bytes(ser.Encoding.Raw, ser.PublicFormat.Raw)


def new_private() -> bytes:
    return secrets.token_bytes(32)  # any 32 bytes are an Ed25519 seed


def public_line(public: bytes) -> str:
    return f"ed25519 {key_id(public)} {b64(public)}"


def parse_public_line(line: str) -> tuple[str, bytes]:
    parts = line.split()
    if len(parts) != 3 or parts[0] != "ed25519":
        raise ProtectError(f"not a public key line (ed25519 <kid> <base64>): {line[:40]!r}")
    public = unb64(parts[2])
    if len(public) != 32 or key_id(public) != parts[1]:
        raise ProtectError(f"public key {parts[1]} does not match its id")
    return parts[1], public


@dataclass(frozen=True)
class TrustedKeys:
    """Public keys accepted as the vendor's, by key id."""

    keys: dict[str, bytes]

    @classmethod
    def from_lines(cls, lines: Iterable[str]) -> "TrustedKeys":
        return cls(dict(parse_public_line(ln) for ln in lines if ln.strip()))

    @classmethod
    def from_dir(cls, directory: Path) -> "TrustedKeys":
        files = sorted(directory.glob("*.pub")) if directory.is_dir() else []
        return cls.from_lines(p.read_text().strip() for p in files)

    def verify(self, kid: str, signature: bytes, data: bytes) -> bool:
        """True if ``kid`` is trusted and signed ``data``; False for a bad signature."""
        ed = require("cryptography.hazmat.primitives.asymmetric.ed25519")
        exc = require("cryptography.exceptions")
        try:
            ed.Ed25519PublicKey.from_public_bytes(self.keys[kid]).verify(signature, data)
        except exc.InvalidSignature:
            return False
        return True


class VendorKeys:
    """The vendor's signing keys in ``<keys>/signing``: generate, rotate, retire, sign."""

    def __init__(self, directory: Path | None = None) -> None:
        self.root = directory or keys_dir()
        self.dir = self.root / "signing"

    def current(self) -> str:
        try:
            return (self.dir / "CURRENT").read_text().strip()
        except FileNotFoundError:
            raise ProtectError(f"no signing key in {self.dir}: run `meterstream license keygen`") from None

    def generate(self) -> str:
        """A new key pair, made current; the previous keys stay trusted. Returns the key id."""
        raw = new_private()
        public = public_bytes(private_key(raw))
        kid = key_id(public)
        write_secret(self.dir / f"{kid}.key", b64(raw).encode())
        (self.dir / f"{kid}.pub").write_text(public_line(public) + "\n")
        tmp = self.dir / "CURRENT.tmp"
        tmp.write_text(kid + "\n")
        tmp.replace(self.dir / "CURRENT")
        return kid

    def retire(self, kid: str) -> None:
        """Delete a key pair: files it signed are refused from now on. The current key cannot be retired."""
        if kid == self.current():
            raise ProtectError(f"{kid} is the current signing key: rotate first")
        for suffix in (".key", ".pub"):
            (self.dir / f"{kid}{suffix}").unlink(missing_ok=True)

    def trusted(self) -> TrustedKeys:
        return TrustedKeys.from_dir(self.dir)

    def sign(self, data: bytes, kid: str | None = None) -> tuple[str, bytes]:
        """(key id, signature) with the current key (or ``kid``)."""
        kid = kid or self.current()
        raw = unb64(read_secret(self.dir / f"{kid}.key").decode())
        return kid, private_key(raw).sign(data)

    def master(self) -> bytes:
        """The master secret weights content keys and watermark keys derive from (created on first use)."""
        path = self.root / "master.key"
        if not path.exists():
            write_secret(path, b64(secrets.token_bytes(32)).encode())
        return unb64(read_secret(path).decode())


def machine_key(path: Path | None = None, create: bool = True) -> "Ed25519PrivateKey":
    """This machine's offline-usage signing key (created 0600 on first use)."""
    path = path or keys_dir() / "machine.key"
    if create and not path.exists():
        write_secret(path, b64(new_private()).encode())
    return private_key(unb64(read_secret(path).decode()))

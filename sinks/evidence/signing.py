"""The log's Ed25519 signing key and its signed checkpoints (C2SP tlog-checkpoint in a C2SP signed note).

What is implemented of the two specs: a checkpoint body of origin line, decimal
tree size and base64 root hash (no extension lines); one signature line per
note, ``— <key name> <base64(4-byte key id || 64-byte Ed25519 signature)>``,
key id = SHA-256(name || 0x0A || 0x01 || public key)[:4]; verifier keys in the
``<name>+<hex key id>+<base64(0x01 || public key)>`` form. Witness cosignature
lines (a different signature type) are not produced; the verifier ignores
signature lines of other keys, as the spec says.

The private key is a PKCS#8 PEM file written with mode 0600 in a 0700
directory, encrypted when a passphrase is set.
"""

from __future__ import annotations

import base64
import logging
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .errors import EvidenceError
from .verify import key_id_of

log = logging.getLogger(__name__)


class Signer:
    """Signs checkpoints under a key name (the log operator's name, e.g. ``meterstream``)."""

    def __init__(self, key: Ed25519PrivateKey, name: str) -> None:
        if not name or any(c.isspace() or c == "+" for c in name):
            raise EvidenceError(f"key name {name!r} must be non-empty, without spaces or '+'")
        self.key, self.name = key, name
        self.public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.key_id = key_id_of(name, self.public)

    def vkey(self) -> str:
        """The verifier key an auditor is given (``python -m meterstream.sinks.evidence.verify --public-key``)."""
        blob = base64.b64encode(b"\x01" + self.public).decode()
        return f"{self.name}+{self.key_id.hex()}+{blob}"

    def checkpoint(self, origin: str, size: int, root: bytes) -> str:
        """The signed note of a checkpoint: body, blank line, signature line."""
        body = f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"
        sig = base64.b64encode(self.key_id + self.key.sign(body.encode())).decode()
        return f"{body}\n\u2014 {self.name} {sig}\n"


def generate_key(path: Path, passphrase: str | None = None, force: bool = False) -> Ed25519PrivateKey:
    """Create a new signing key at ``path`` (0600; refused if one exists, unless ``force``)."""
    if path.exists() and not force:
        raise EvidenceError(f"a signing key already exists at {path} (replacing it starts a new identity; "
                            "use --force if that is meant)")
    key = Ed25519PrivateKey.generate()
    enc: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase.encode()) if passphrase else serialization.NoEncryption())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    # A temp file left by an interrupted run keeps its own mode under O_CREAT (and a planted one could be a
    # link): remove it and create ours exclusively, so the key is never written into a file others can read.
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    os.replace(tmp, path)
    return key


def load_key(path: Path, passphrase: str | None = None) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), passphrase.encode() if passphrase else None)
    except FileNotFoundError:
        raise EvidenceError(f"no signing key at {path}: create one with `meterstream evidence key generate`") from None
    except (ValueError, TypeError) as exc:
        raise EvidenceError(f"cannot read the signing key at {path}: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise EvidenceError(f"{path} is not an Ed25519 key")
    if path.stat().st_mode & 0o077 and not passphrase:
        log.warning("signing key %s is readable by others; chmod 600 it", path)
    return key


def signer(path: Path, name: str, passphrase: str | None = None, create: bool = False) -> Signer:
    """The signer of the key at ``path``; with ``create``, a missing key is generated (the sink's first start)."""
    if create and not path.exists():
        key = generate_key(path, passphrase)
        s = Signer(key, name)
        log.warning("generated the evidence signing key %s; its verifier key is %s", path, s.vkey())
        return s
    return Signer(load_key(path, passphrase), name)

"""Key derivation and AES-256-GCM, in one place so every format uses the same choices.

* A license file's key-encryption key: scrypt (n=2^14, r=8, p=1, 16-byte salt) over the
  license key's SHA-256 and the machine fingerprint: slow to guess, bound to the machine.
* Keys derived from the vendor's master secret (weights content keys, watermark keys):
  HKDF-SHA256 with a purpose string, so no two purposes ever share a key.
"""

from __future__ import annotations

import hashlib

from .deps import require

SCRYPT_N, SCRYPT_R, SCRYPT_P = 1 << 14, 8, 1


def scrypt_key(secret: bytes, salt: bytes, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> bytes:
    return hashlib.scrypt(secret, salt=salt, n=n, r=r, p=p, maxmem=256 << 20, dklen=32)


def hkdf(master: bytes, info: str, salt: bytes = b"") -> bytes:
    hk = require("cryptography.hazmat.primitives.kdf.hkdf")
    hashes = require("cryptography.hazmat.primitives.hashes")
    return hk.HKDF(algorithm=hashes.SHA256(), length=32, salt=salt or None,
                   info=info.encode()).derive(master)


def aesgcm(key: bytes) -> "object":
    """An AESGCM instance (typed loosely: cryptography is an optional dependency)."""
    return require("cryptography.hazmat.primitives.ciphers.aead").AESGCM(key)


def weights_key(master: bytes, model: str, version: str, license_id: str = "") -> bytes:
    """The content key of ``model``@``version`` (for one license only when ``license_id`` is given)."""
    return hkdf(master, f"meterstream/weights/v1/{model}@{version}/{license_id}")


def watermark_key(master: bytes, license_id: str) -> bytes:
    """The per-license secret that seeds the output watermark's green lists."""
    return hkdf(master, f"meterstream/watermark/v1/{license_id}")


def weights_key_id(model: str, version: str, license_id: str = "") -> str:
    return f"{model}@{version}" + (f"/{license_id}" if license_id else "")

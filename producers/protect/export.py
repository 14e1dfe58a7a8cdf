"""The vendor side of license files: write one for a license, optionally bound to a machine.

The payload carries what the machine needs offline: the terms, the content keys of
the encrypted models those terms allow (``model encrypt`` keeps the list), and the
license's watermark key. Only a holder of the license key (and, machine-bound, that
machine) can read it; anyone with the vendor's public key can check it is genuine.
"""

from __future__ import annotations

import json
import secrets
from typing import TYPE_CHECKING

from meterstream.clock import now_us

from .fingerprint import machine_hash
from .kdf import SCRYPT_N, SCRYPT_P, SCRYPT_R, aesgcm, scrypt_key, watermark_key, weights_key
from .keys import VendorKeys, b64
from .license_file import ALG, armor, b64url, canonical, header_aad
from .verified import terms_to_payload

if TYPE_CHECKING:
    from meterstream.stream_processors.license.terms import LicenseTerms

INDEX = "weights.index"  # JSON list of [model, version, license_id or ""] that `model encrypt` wrote


def encrypted_models(vendor: VendorKeys) -> list[tuple[str, str, str]]:
    path = vendor.root / INDEX
    return [tuple(x) for x in json.loads(path.read_text())] if path.exists() else []


def remember_encrypted(vendor: VendorKeys, model: str, version: str, license_id: str) -> None:
    entries = set(encrypted_models(vendor)) | {(model, version, license_id)}
    (vendor.root / INDEX).write_text(json.dumps(sorted(entries)))


def licensed_weights_keys(vendor: VendorKeys, terms: "LicenseTerms") -> dict[str, str]:
    """Content keys of every encrypted model version the terms allow now (shared or for this license)."""
    from .kdf import weights_key_id

    master, out = vendor.master(), {}
    for model, version, lic in encrypted_models(vendor):
        if lic not in ("", terms.license_id) or terms.model_verdict(model, version) is not None:
            continue
        out[weights_key_id(model, version, lic)] = b64(weights_key(master, model, version, lic))
    return out


def export_license_file(terms: "LicenseTerms", vendor: VendorKeys, *, ttl_s: int, machine: str = "",
                        machine_key: bytes | None = None, now: int | None = None) -> str:
    """The armored license file for ``terms`` (TTL ``ttl_s`` from now), bound to ``machine`` if given."""
    issued = now_us() if now is None else now
    kid = vendor.current()
    payload = {"terms": terms_to_payload(terms), "weights_keys": licensed_weights_keys(vendor, terms),
               "watermark_key": b64(watermark_key(vendor.master(), terms.license_id))}
    salt, dek = secrets.token_bytes(16), secrets.token_bytes(32)
    body = {"v": 1, "license_id": terms.license_id, "kid": kid, "issued_us": issued,
            "expires_us": issued + ttl_s * 1_000_000, "machine": machine_hash(machine) if machine else "",
            "kdf": {"alg": "scrypt", "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P, "salt": b64(salt)},
            "wraps": [_wrap(dek, h, machine, salt, terms.license_id) for h in terms.accepted_key_hashes],
            "nonce": b64(nonce := secrets.token_bytes(12))}
    body["ct"] = b64(aesgcm(dek).encrypt(nonce, canonical(payload), header_aad(body)))  # type: ignore[attr-defined]
    enc = b64url(canonical(body))
    doc = {"alg": ALG, "kid": kid, "enc": enc, "sig": b64(vendor.sign(b"license/" + enc.encode(), kid)[1])}
    if machine_key is not None:
        cert = b64url(canonical({"v": 1, "license_id": terms.license_id, "machine": body["machine"],
                                 "machine_key": b64(machine_key), "issued_us": issued,
                                 "expires_us": body["expires_us"], "kid": kid}))
        doc["cert"], doc["cert_sig"] = cert, b64(vendor.sign(b"machine-cert/" + cert.encode(), kid)[1])
    return armor(doc)


def _wrap(dek: bytes, key_hash: str, machine: str, salt: bytes, license_id: str) -> str:
    kek = aesgcm(scrypt_key(key_hash.encode() + b"|" + machine.encode(), salt))
    nonce = secrets.token_bytes(12)
    return b64(nonce + kek.encrypt(nonce, dek, b"wrap|" + license_id.encode()))  # type: ignore[attr-defined]

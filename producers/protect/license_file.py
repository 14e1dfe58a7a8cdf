"""Signed, encrypted license files for machines that cannot reach the license service.

A file is armored base64 of a JSON document (``alg`` = ``aes-256-gcm+ed25519``)::

    {"alg", "kid", "enc", "sig", "cert"?, "cert_sig"?}
    enc  = base64url(canonical JSON body)      sig = Ed25519(vendor key kid, "license/" + enc)
    body = {"v", "license_id", "kid", "issued_us", "expires_us", "machine" (hash of the fingerprint or ""),
            "kdf": {"alg": "scrypt", "n", "r", "p", "salt"}, "wraps": [nonce+wrapped data key, ...],
            "nonce", "ct"}

``ct`` is the payload (terms, weights content keys, the watermark key) under a random
data key with AES-256-GCM; the body's other fields are its associated data. The data
key is wrapped once per accepted license key (two during a key rotation) under
scrypt(SHA-256(license key) | fingerprint). ``cert`` is the machine certificate
(license id, machine hash, the machine's offline-usage public key, the file's TTL)
signed by the vendor as ``"machine-cert/" + cert``: what the processor checks offline
usage against, without the license key. Refusals are checked in the order: format,
signature, file TTL, machine, license key, license status and validity; each has its
own error (``errors.py``).
"""

from __future__ import annotations

import base64
import binascii
import json
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any


from . import errors as e
from .fingerprint import machine_hash
from .kdf import aesgcm, scrypt_key
from .keys import TrustedKeys, unb64

ALG = "aes-256-gcm+ed25519"
BEGIN, END = "-----BEGIN METERSTREAM LICENSE FILE-----", "-----END METERSTREAM LICENSE FILE-----"
SKEW_US = 300_000_000  # a file issued up to 5 minutes "in the future" is accepted (clock skew)


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text.encode())


def armor(doc: dict[str, Any]) -> str:
    body = base64.b64encode(canonical(doc)).decode()
    return "\n".join([BEGIN, *textwrap.wrap(body, 64), END]) + "\n"


def dearmor(text: str) -> dict[str, Any]:
    """The JSON document of an armored file; MalformedLicenseFileError if it is not one."""
    lines = [ln.strip() for ln in text.strip().splitlines()]
    if len(lines) < 3 or lines[0] != BEGIN or lines[-1] != END:
        raise e.MalformedLicenseFileError("not a meterstream license file (armor lines missing)")
    try:
        doc = json.loads(base64.b64decode("".join(lines[1:-1]), validate=True))
    except (ValueError, binascii.Error):
        raise e.TamperedLicenseFileError("license file damaged: its contents do not decode") from None
    if not isinstance(doc, dict) or doc.get("alg") != ALG or not {"kid", "enc", "sig"} <= set(doc):
        raise e.MalformedLicenseFileError(f"unsupported license file (alg must be {ALG})")
    return doc


def header_aad(body: dict[str, Any]) -> bytes:
    return b"meterstream-license/v1|" + canonical({k: v for k, v in body.items() if k != "ct"})


@dataclass(frozen=True)
class MachineCert:
    """The vendor-signed binding of a license to a machine and its offline-usage key."""

    license_id: str
    machine: str
    machine_key: bytes
    issued_us: int
    expires_us: int
    kid: str

    @classmethod
    def verify(cls, cert: str, cert_sig: str, trusted: TrustedKeys) -> "MachineCert":
        """Parse and check the vendor's signature; ProtectError subclasses on any failure."""
        try:
            fields = json.loads(unb64url(cert))
            kid, sig = fields["kid"], unb64(cert_sig)
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise e.TamperedLicenseFileError("machine certificate damaged") from None
        if kid not in trusted.keys:
            raise e.UnknownSigningKeyError(f"machine certificate signed by untrusted key {kid}")
        if not trusted.verify(kid, sig, b"machine-cert/" + cert.encode()):
            raise e.TamperedLicenseFileError("machine certificate does not match its signature")
        return cls(fields["license_id"], fields["machine"], unb64(fields["machine_key"]),
                   int(fields["issued_us"]), int(fields["expires_us"]), kid)


def verify_signature(doc: dict[str, Any], trusted: TrustedKeys) -> dict[str, Any]:
    """The signed body, once its signature checks with a trusted key."""
    kid = str(doc["kid"])
    if kid not in trusted.keys:
        raise e.UnknownSigningKeyError(f"license file signed by key {kid}, which this machine does not trust "
                                       f"(trusted: {', '.join(sorted(trusted.keys)) or 'none'})")
    try:
        sig = unb64(str(doc["sig"]))
    except (ValueError, binascii.Error):
        raise e.TamperedLicenseFileError("license file signature damaged") from None
    if not trusted.verify(kid, sig, b"license/" + str(doc["enc"]).encode()):
        raise e.TamperedLicenseFileError("license file does not match its signature: it was changed")
    body: dict[str, Any] = json.loads(unb64url(str(doc["enc"])))
    if body.get("kid") != kid:
        raise e.TamperedLicenseFileError("license file key id does not match its signed body")
    return body


def check_ttl(body: dict[str, Any], now: int) -> None:
    if now >= int(body["expires_us"]):
        raise e.LicenseFileExpiredError(f"license file of {body['license_id']} expired at "
                                        f"{_iso(body['expires_us'])}: export a fresh one")
    if now + SKEW_US < int(body["issued_us"]):
        raise e.LicenseFileNotYetValidError(f"license file issued at {_iso(body['issued_us'])}, in the future")


def check_machine(body: dict[str, Any], fingerprint: str) -> None:
    if body["machine"] and body["machine"] != machine_hash(fingerprint):
        raise e.WrongMachineError(f"license file of {body['license_id']} is bound to another machine "
                                  f"(this machine is {fingerprint})")


def decrypt_payload(body: dict[str, Any], license_key: str, fingerprint: str) -> dict[str, Any]:
    """The payload, with the data key unwrapped by the key derived from ``license_key`` (+ machine)."""
    from meterstream.stream_processors.license.terms import hash_key

    kdf = body["kdf"]
    secret = hash_key(license_key).encode() + b"|" + (fingerprint if body["machine"] else "").encode()
    kek = aesgcm(scrypt_key(secret, unb64(kdf["salt"]), kdf["n"], kdf["r"], kdf["p"]))
    invalid = _invalid_tag()
    wrap_aad = b"wrap|" + body["license_id"].encode()
    for wrap in body["wraps"]:
        raw = unb64(wrap)
        try:
            dek = kek.decrypt(raw[:12], raw[12:], wrap_aad)  # type: ignore[attr-defined]
            break
        except invalid:
            continue
    else:
        raise e.WrongLicenseKeyError(f"the license key does not open the license file of {body['license_id']}")
    try:
        plain = aesgcm(dek).decrypt(unb64(body["nonce"]), unb64(body["ct"]), header_aad(body))  # type: ignore[attr-defined]
    except invalid:
        raise e.TamperedLicenseFileError("license file payload does not authenticate") from None
    payload: dict[str, Any] = json.loads(plain)
    return payload


def _invalid_tag() -> type[Exception]:
    from .deps import require

    return require("cryptography.exceptions").InvalidTag


def _iso(us: Any) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(int(us) / 1e6, timezone.utc).isoformat()


def read_text(source: str | Path) -> str:
    """An armored file's text from a path, or the text itself."""
    if isinstance(source, Path) or not source.lstrip().startswith(BEGIN):
        try:
            return Path(source).read_text()
        except OSError as exc:
            raise e.MalformedLicenseFileError(f"cannot read license file {source}: {exc.strerror}") from None
    return source

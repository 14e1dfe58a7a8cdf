"""Open a license file on the customer's machine: verify it offline, then judge a use against its terms."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meterstream.clock import now_us as _now_us

from . import errors as e
from .fingerprint import read_fingerprint
from .keys import TrustedKeys, keys_dir, unb64
from .license_file import check_machine, check_ttl, dearmor, decrypt_payload, read_text, verify_signature

if TYPE_CHECKING:
    from meterstream.stream_processors.license.terms import LicenseTerms


@dataclass(frozen=True)
class VerifiedLicense:
    """A license file that passed every check; its terms, keys and machine certificate."""

    terms: "LicenseTerms"
    issued_us: int
    expires_us: int
    fingerprint: str  # "" when the file is not bound to a machine
    weights_keys: dict[str, bytes] = field(repr=False)
    watermark_key: bytes = field(repr=False)
    cert: str | None = None
    cert_sig: str | None = None

    @property
    def license_id(self) -> str:
        return self.terms.license_id

    @property
    def flags(self) -> dict[str, bool]:
        return dict(self.terms.flags)

    def check_use(self, model: str, version: str, t_us: int | None = None) -> None:
        """Raise unless ``model`` at ``version`` may run now (validity window, status, model rules).

        Version rules are judged without the release catalog (offline): ``latest`` rules allow any version.
        """
        t = _now_us() if t_us is None else t_us
        _check_terms(self.terms, t)
        verdict = self.terms.model_verdict(model, version, None, t)
        if verdict is not None:
            raise e.ModelNotAllowedError(verdict[0], verdict[1])


def _check_terms(terms: "LicenseTerms", t: int) -> None:
    status = terms.status_reason()
    if status is not None:
        raise e.LicenseRefusedError(status, f"license {terms.license_id} is {status}")
    reason = terms.validity_reason(t)
    if reason == "expired":
        raise e.LicenseExpiredError(f"license {terms.license_id} expired")
    if reason is not None:
        raise e.LicenseNotYetValidError(f"license {terms.license_id} is not yet valid")


def default_trusted() -> TrustedKeys:
    """The vendor public keys this machine trusts: ``<data dir>/keys/trusted/*.pub``."""
    return TrustedKeys.from_dir(keys_dir() / "trusted")


def open_license_file(source: str | Path, license_key: str, *, trusted: TrustedKeys | None = None,
                      fingerprint: str | None = None, now_us: int | None = None) -> VerifiedLicense:
    """Verify a license file offline and return its contents, or raise the error that says why not.

    Checks, in order: armor and format, the vendor's signature (trusted key id), the file's
    TTL, the machine it is bound to, the license key, then the license's status and validity.
    ``fingerprint`` defaults to this machine's (``fingerprint.py``).
    """
    now = _now_us() if now_us is None else now_us
    doc = dearmor(read_text(source))
    body = verify_signature(doc, trusted if trusted is not None else default_trusted())
    check_ttl(body, now)
    fp = fingerprint if fingerprint is not None else (read_fingerprint().id if body["machine"] else "")
    check_machine(body, fp)
    payload = decrypt_payload(body, license_key, fp)
    terms = terms_from_payload(payload["terms"])
    _check_terms(terms, now)
    return VerifiedLicense(terms, int(body["issued_us"]), int(body["expires_us"]), fp if body["machine"] else "",
                           {k: unb64(v) for k, v in payload["weights_keys"].items()},
                           unb64(payload["watermark_key"]), doc.get("cert"), doc.get("cert_sig"))


def terms_to_payload(terms: "LicenseTerms") -> dict[str, Any]:
    """The terms as JSON-able data for the payload (key hashes left out: the file needs none)."""
    from datetime import datetime

    record = terms.to_record()
    record["key_hash"], record["key_hashes"] = "", []
    return json.loads(json.dumps(record, default=lambda v: _us(v) if isinstance(v, datetime) else str(v)))


def terms_from_payload(data: dict[str, Any]) -> "LicenseTerms":
    from meterstream.stream_processors.license.terms import LicenseTerms

    return LicenseTerms.from_record(data)


def _us(dt: Any) -> int:
    return int(dt.timestamp()) * 1_000_000 + dt.microsecond

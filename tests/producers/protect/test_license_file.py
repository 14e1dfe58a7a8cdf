"""License files: a genuine one opens offline; each way of breaking it is refused with its own error."""

from __future__ import annotations

import base64
import json
import os
import stat
import time
from pathlib import Path

import pytest

from meterstream.clock import now_us
from meterstream.producers.protect import errors as e
from meterstream.producers.protect.keys import TrustedKeys, VendorKeys
from meterstream.producers.protect.license_file import BEGIN, END, dearmor, verify_signature
from meterstream.stream_processors.license.terms import hash_key

from .conftest import DAY_US, KEY, MACHINE, OTHER_MACHINE, Vendor, terms


def test_genuine_file_opens_with_terms_keys_and_flags(vendor: Vendor) -> None:
    text = vendor.export()
    assert text.startswith(BEGIN) and text.rstrip().endswith(END)
    assert KEY not in text and hash_key(KEY) not in text  # neither the key nor its hash travels
    lic = vendor.open(text)
    assert lic.license_id == "acme" and lic.fingerprint == MACHINE
    assert lic.flags["watermark_required"] is True and len(lic.watermark_key) == 32
    lic.check_use("llama", "3.2.0")


def _flip(text: str, at: int) -> str:
    """The file with one byte of its decoded document changed, armored again."""
    lines = text.strip().splitlines()
    raw = bytearray(base64.b64decode("".join(lines[1:-1])))
    raw[at] ^= 0x01
    body = base64.b64encode(bytes(raw)).decode()
    return "\n".join([lines[0], *[body[i:i + 64] for i in range(0, len(body), 64)], lines[-1]])


def test_any_changed_byte_is_refused(vendor: Vendor) -> None:
    text = vendor.export()
    size = len(base64.b64decode("".join(text.strip().splitlines()[1:-1])))
    refused = {}
    for at in range(0, size, max(1, size // 60)):
        with pytest.raises(e.LicenseFileError) as info:
            vendor.open(_flip(text, at))
        refused[type(info.value).__name__] = info.value.code
    # a flip lands in the JSON syntax (damaged), in the key id (unknown key) or in signed bytes (tampered)
    assert "TamperedLicenseFileError" in refused and set(refused.values()) <= {
        "tampered", "unknown_signing_key", "malformed"}


def test_changed_payload_with_the_signature_kept_is_tampered(vendor: Vendor) -> None:
    doc = dearmor(vendor.export())
    body = json.loads(base64.urlsafe_b64decode(doc["enc"]))
    body["expires_us"] += 365 * DAY_US  # extend the file's own TTL
    doc["enc"] = base64.urlsafe_b64encode(json.dumps(body).encode()).decode()
    with pytest.raises(e.TamperedLicenseFileError, match="does not match its signature"):
        verify_signature(doc, vendor.keys.trusted())


def test_file_signed_by_another_vendor_is_refused(vendor: Vendor, tmp_path: Path) -> None:
    forger = VendorKeys(tmp_path / "forger")
    forger.generate()
    text = Vendor(forger).export()
    with pytest.raises(e.UnknownSigningKeyError, match="does not trust"):
        vendor.open(text)


def test_rotation_keeps_old_files_valid_and_retiring_refuses_them(vendor: Vendor) -> None:
    old_kid = vendor.keys.current()
    old = vendor.export()
    new_kid = vendor.keys.generate()
    assert new_kid != old_kid and set(vendor.keys.trusted().keys) == {old_kid, new_kid}
    assert dearmor(vendor.export())["kid"] == new_kid
    vendor.open(old)
    vendor.keys.retire(old_kid)
    with pytest.raises(e.UnknownSigningKeyError):
        vendor.open(old)
    with pytest.raises(e.ProtectError, match="current"):
        vendor.keys.retire(new_kid)


def test_private_keys_are_0600_and_a_readable_one_is_refused(vendor: Vendor) -> None:
    path = vendor.keys.dir / f"{vendor.keys.current()}.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    os.chmod(path, 0o644)
    with pytest.raises(e.ProtectError, match="chmod 600"):
        vendor.export()


def test_expired_file_is_refused_although_the_license_is_valid(vendor: Vendor) -> None:
    text = vendor.export(ttl_s=60)
    with pytest.raises(e.LicenseFileExpiredError, match="export a fresh one"):
        vendor.open(text, now_us=now_us() + 61_000_000)


def test_expired_and_not_yet_valid_license_are_refused(vendor: Vendor) -> None:
    with pytest.raises(e.LicenseExpiredError) as info:
        vendor.open(vendor.export(terms(not_before_us=now_us() - 2 * DAY_US, expires_us=now_us() - DAY_US)))
    assert info.value.code == "expired"
    with pytest.raises(e.LicenseNotYetValidError):
        vendor.open(vendor.export(terms(not_before_us=now_us() + DAY_US, expires_us=now_us() + 2 * DAY_US)))
    with pytest.raises(e.LicenseRefusedError) as revoked:
        vendor.open(vendor.export(terms(status="revoked")))
    assert revoked.value.code == "revoked"


def test_file_for_another_machine_is_refused(vendor: Vendor) -> None:
    with pytest.raises(e.WrongMachineError, match="bound to another machine"):
        vendor.open(vendor.export(), machine=OTHER_MACHINE)


def test_wrong_license_key_is_refused_and_both_rotation_keys_open(vendor: Vendor) -> None:
    with pytest.raises(e.WrongLicenseKeyError):
        vendor.open(vendor.export(), key="not-the-key")
    h1, h2 = hash_key(KEY), hash_key("second-key")
    text = vendor.export(terms(key_hash=h2, key_hashes=(h2, h1)))
    assert vendor.open(text).license_id == vendor.open(text, key="second-key").license_id == "acme"


def test_model_and_version_outside_the_terms_are_refused(vendor: Vendor) -> None:
    lic = vendor.open(vendor.export())
    with pytest.raises(e.ModelNotAllowedError) as version:
        lic.check_use("llama", "4.0.0")
    assert version.value.code == "version_not_allowed"
    with pytest.raises(e.ModelNotAllowedError) as model:
        lic.check_use("mistral", "1.0")
    assert model.value.code == "model_not_allowed"


def test_unbound_file_opens_on_any_machine(vendor: Vendor) -> None:
    text = vendor.export(machine="")
    assert vendor.open(text, machine=OTHER_MACHINE).fingerprint == ""


def test_not_a_license_file(vendor: Vendor) -> None:
    with pytest.raises(e.MalformedLicenseFileError):
        vendor.open("hello")
    with pytest.raises(e.MalformedLicenseFileError):
        vendor.open(f"{BEGIN}\n{END}\n")
    with pytest.raises(e.UnknownSigningKeyError, match="trusted: none"):
        vendor.open(vendor.export(), trusted=TrustedKeys({}))


def test_verify_speed(vendor: Vendor) -> None:
    """Signature + TTL + machine (what every start checks) in microseconds; the scrypt open in ms."""
    from meterstream.producers.protect.license_file import check_machine, check_ttl

    text, trusted = vendor.export(), vendor.keys.trusted()
    n, t0 = 200, time.perf_counter()
    for _ in range(n):
        body = verify_signature(dearmor(text), trusted)
        check_ttl(body, now_us())
        check_machine(body, MACHINE)
    verify_us = (time.perf_counter() - t0) / n * 1e6
    t0 = time.perf_counter()
    vendor.open(text)
    open_ms = (time.perf_counter() - t0) * 1e3
    print(f"\nlicense file: verify {verify_us:.0f} us, full open (scrypt + decrypt) {open_ms:.1f} ms")
    assert verify_us < 5_000

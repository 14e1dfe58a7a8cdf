"""Fixtures of the protection tests: a vendor key store and licenses in tmp_path, machines by fingerprint."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from meterstream.clock import now_us
from meterstream.producers.protect.export import export_license_file
from meterstream.producers.protect.keys import VendorKeys
from meterstream.producers.protect.verified import VerifiedLicense, open_license_file
from meterstream.stream_processors.license.terms import LicenseTerms, grants, hash_key

MACHINE, OTHER_MACHINE = "fp1-00000000000000000000000000000001", "fp1-00000000000000000000000000000002"
KEY = "acme-secret-key-0123456789abcdef"
DAY_US = 86_400_000_000


def terms(license_id: str = "acme", key: str = KEY, **changes: Any) -> LicenseTerms:
    h = hash_key(key)
    base = dict(key_hash=h, key_hashes=(h,), tier="free", models=grants("llama=major:3"),
                flags={"watermark_required": True}, not_before_us=now_us() - DAY_US,
                expires_us=now_us() + 365 * DAY_US)
    return LicenseTerms(license_id, **{**base, **changes})


@dataclass
class Vendor:
    keys: VendorKeys

    def export(self, t: LicenseTerms | None = None, *, ttl_s: int = 3600, machine: str = MACHINE,
               **kw: Any) -> str:
        return export_license_file(t or terms(), self.keys, ttl_s=ttl_s, machine=machine, **kw)

    def open(self, text: str, key: str = KEY, machine: str = MACHINE, **kw: Any) -> VerifiedLicense:
        kw.setdefault("trusted", self.keys.trusted())
        return open_license_file(text, key, fingerprint=machine, **kw)


@pytest.fixture
def vendor(tmp_path: Path) -> Vendor:
    keys = VendorKeys(tmp_path / "vendor-keys")
    keys.generate()
    return Vendor(keys)

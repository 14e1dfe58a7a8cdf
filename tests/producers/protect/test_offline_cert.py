"""A license file whose machine certificate is damaged is refused with a clear error, not a KeyError."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from meterstream.producers.protect.errors import ProtectError
from meterstream.producers.protect.license_file import armor
from meterstream.producers.protect.offline import machine_cert_header


@pytest.mark.parametrize("doc", [{"cert": "!!not base64!!", "cert_sig": "x"},
                                 {"cert": base64.urlsafe_b64encode(b'{"no": "key"}').decode(), "cert_sig": "x"},
                                 {"cert": base64.urlsafe_b64encode(b'{"machine_key": "AA=="}').decode()}])
def test_damaged_machine_certificate(tmp_path: Path, doc: dict[str, str]) -> None:
    path = tmp_path / "license.lic"
    path.write_text(armor({"alg": "aes-256-gcm+ed25519", "kid": "k", "enc": "e", "sig": "s", **doc}))
    with pytest.raises(ProtectError, match="machine certificate is damaged"):
        machine_cert_header(path)

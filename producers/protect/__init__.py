"""Protecting the model where it runs: signed offline license files, encrypted weights loaded only under
a valid license, output watermarks that name the licensee, signed offline usage (docs/protection.md).

Needs the protect extra (``pip install 'meterstream[protect]'``) when used; importing it never does.
"""

from .attestation import Claims, NoAttestation, attest
from .fingerprint import Fingerprint, read_fingerprint
from .loader import load_protected
from .verified import VerifiedLicense, open_license_file

__all__ = ["Claims", "Fingerprint", "NoAttestation", "VerifiedLicense", "attest", "load_protected",
           "open_license_file", "read_fingerprint"]

"""The licenses a worker holds: raw records in a Faust table, parsed terms cached beside it.

The table keeps the Avro bytes exactly as published, base64-encoded so the
table's JSON changelog can carry them; parsing happens once per record
version, not per usage message.
"""

from __future__ import annotations

import base64
import logging
from typing import Any, MutableMapping

from meterstream.errors import MeterstreamError
from meterstream.schemas import RecordCodec

from .terms import LicenseTerms

log = logging.getLogger(__name__)


class TermsCache:
    """License id -> LicenseTerms, backed by a mapping of encoded records keyed by the id's bytes (the Faust table)."""

    def __init__(self, table: MutableMapping[bytes, Any]) -> None:
        self.table = table
        self.codec = RecordCodec("license")
        self._parsed: dict[str, tuple[str, LicenseTerms]] = {}

    def parse(self, value: bytes) -> LicenseTerms:
        return LicenseTerms.from_record(self.codec.decode(value))

    def store(self, license_id: str, value: bytes | None) -> bool:
        """Apply one licenses-topic record; False (and the old terms kept) if it is not valid."""
        if value is None:
            self.table.pop(license_id.encode(), None)
            self._parsed.pop(license_id, None)
            return True
        try:
            terms = self.parse(value)
        except (MeterstreamError, KeyError, TypeError, ValueError) as exc:
            log.error("license %s: record refused, previous terms kept: %s", license_id, exc)
            return False
        if terms.license_id != license_id:
            log.error("license record keyed %s names %s: refused", license_id, terms.license_id)
            return False
        encoded = base64.b64encode(value).decode()
        self.table[license_id.encode()] = encoded
        self._parsed[license_id] = (encoded, terms)
        return True

    def get(self, license_id: str) -> LicenseTerms | None:
        value = self.table.get(license_id.encode())
        if value is None:
            return None
        cached = self._parsed.get(license_id)
        if cached is not None and cached[0] == value:
            return cached[1]
        try:
            terms = self.parse(base64.b64decode(value))
        except (MeterstreamError, KeyError, TypeError, ValueError) as exc:
            log.error("stored terms of %s no longer parse (%s); treating the license as unknown", license_id, exc)
            return None
        self._parsed[license_id] = (value, terms)
        return terms

"""Errors raised by the stream processors and the license admin API."""

from __future__ import annotations

from meterstream.errors import MeterstreamError


class ProcessorError(MeterstreamError):
    """Base class of stream-processor errors."""


class InvalidTermsError(ProcessorError):
    """License terms that cannot be enforced; the message names the field."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"license {field}: {reason}")
        self.field = field
        self.reason = reason


class LicenseNotFoundError(ProcessorError):
    """The licenses topic holds no (undeleted) record for this license id."""


class StateDecodeError(ProcessorError):
    """A license's stored state cannot be read: refuse to guess rather than recount from zero."""

    def __init__(self, license_id: str, reason: str) -> None:
        super().__init__(f"state of license {license_id!r} cannot be decoded: {reason}")
        self.license_id = license_id
        self.reason = reason

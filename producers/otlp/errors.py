"""Errors of the OTLP receiver."""

from ..errors import ProducerError


class OtlpError(ProducerError):
    """Root of the receiver's errors."""


class PayloadError(OtlpError):
    """A request body that is not an OTLP trace export: answered 400 and nothing of it is recorded."""

"""Errors of the producer library."""

from meterstream.errors import MeterstreamError


class ProducerError(MeterstreamError):
    """The meter cannot accept or deliver events."""


class InvalidEventError(ProducerError, ValueError):
    """An event refused at the call; nothing was enqueued. ``field`` names the culprit."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class MeterClosedError(ProducerError):
    """record() after close()."""

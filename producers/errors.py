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


class SpoolFullError(ProducerError):
    """The on-disk spool reached ``spool_max_bytes`` and the in-memory buffer is full too.

    The event that raised it was not accepted (nothing was enqueued); every event
    accepted before stays in memory or in the spool until Kafka acknowledges it.
    """


class SpoolError(ProducerError):
    """The spool directory cannot be used (not writable, locked by another process)."""


class DurabilityTimeoutError(ProducerError):
    """Strict mode: the event was accepted but not made durable within the wait timeout.

    The event is still queued and will be written; the caller may treat it as
    unacknowledged (retrying would record it twice under a new event id).
    """

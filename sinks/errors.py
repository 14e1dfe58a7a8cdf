"""Errors of the sinks."""

from meterstream.errors import MeterstreamError


class SinkError(MeterstreamError):
    """The sink cannot write to ClickHouse; offsets stay uncommitted so nothing is lost."""

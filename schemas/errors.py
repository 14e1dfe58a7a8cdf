"""Errors raised while loading schemas or decoding messages."""

from meterstream.errors import MeterstreamError


class SchemaError(MeterstreamError):
    """A schema file is missing, malformed, or incompatible."""


class UnknownSchemaError(SchemaError):
    """A message names a writer schema (by fingerprint) that this reader does not know."""


class DecodeError(MeterstreamError):
    """Bytes that are not a valid meterstream message."""

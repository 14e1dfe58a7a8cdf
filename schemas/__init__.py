"""Avro schemas of meterstream (the `.avsc` files beside this module are the source of truth)."""

from .codec import BatchCodec, RecordCodec, decode_header
from .errors import SchemaError, UnknownSchemaError, DecodeError
from .registry import SchemaRegistry, SchemaVersion, default_registry

__all__ = [
    "BatchCodec",
    "DecodeError",
    "RecordCodec",
    "SchemaError",
    "SchemaRegistry",
    "SchemaVersion",
    "UnknownSchemaError",
    "decode_header",
    "default_registry",
]

"""Rewriting a usage batch of an earlier schema version as the newest one, without decoding it.

Usage event versions only ever *append* fields with defaults (the evolution
rule of wire-format.md, checked by tests/schemas). A columnar batch is one
array per field in schema order, so the body of an older batch followed by
one column of defaults per appended field *is* a valid body of the newest
batch schema: the Avro resolution of the added fields, done with a few bytes
multiplications. The sink uses it to stage messages of every version in one
container of the newest schema (ClickHouse then never sees a missing field).
"""

from __future__ import annotations

from typing import Any

from .codec import HEADER_LEN, BatchCodec, batch_count, decode_header, encode_column, event_defaults
from .errors import DecodeError, UnknownSchemaError
from .registry import USAGE_BATCH, SchemaRegistry, SchemaVersion, default_registry


class BatchResolver:
    """Bodies of usage batches of any known version, as bodies of the newest version."""

    def __init__(self, registry: SchemaRegistry | None = None) -> None:
        self.registry = registry or default_registry()
        self.latest = self.registry.latest(USAGE_BATCH)
        self._codec = BatchCodec(self.registry)
        self._defaults = event_defaults(self.registry)
        self._appended: dict[bytes, list[tuple[str, Any]]] = {}  # writer fingerprint -> (kind, default)
        self._tails: dict[tuple[bytes, int], bytes] = {}

    def writer(self, value: bytes) -> SchemaVersion:
        """The writer schema of a message; DecodeError/UnknownSchemaError unless it is a resolvable usage batch."""
        sv = self.registry.by_fingerprint(decode_header(value))
        if sv.subject != USAGE_BATCH:
            raise UnknownSchemaError(f"message holds {sv.subject}, not a usage batch")
        self._appended_fields(sv)
        return sv

    def body(self, value: bytes) -> bytes:
        """The Avro body of ``value`` in the newest batch schema (the message's own body if it is newest)."""
        return value[HEADER_LEN:] + self.tail(value)

    def tail(self, value: bytes) -> bytes:
        """What follows ``value``'s own body to make it a body of the newest schema: its missing columns as
        defaults (b"" when it is newest). For a reader that avoids copying the body."""
        sv = self.writer(value)
        return b"" if sv.fingerprint == self.latest.fingerprint else self._tail(sv, batch_count(value))

    def _appended_fields(self, sv: SchemaVersion) -> list[tuple[str, Any]]:
        """(column kind, default) of each field the newest version appends to ``sv``'s fields."""
        fields = self._appended.get(sv.fingerprint)
        if fields is None:
            old, new = sv.field_names, self.latest.field_names
            if new[:len(old)] != old:
                raise DecodeError(f"usage_event v{sv.version} is not a prefix of v{self.latest.version}: "
                                  "cannot resolve its batches by appending defaults")
            kinds = dict(self._codec.plan(self.latest))
            fields = [(kinds[name], self._defaults[name]) for name in new[len(old):]]
            self._appended[sv.fingerprint] = fields
        return fields

    def _tail(self, sv: SchemaVersion, count: int) -> bytes:
        key = (sv.fingerprint, count)
        tail = self._tails.get(key)
        if tail is None:
            tail = b"".join(encode_column(kind, [default] * count) for kind, default in self._appended[sv.fingerprint])
            if len(self._tails) > 4096:
                self._tails.clear()
            self._tails[key] = tail
        return tail

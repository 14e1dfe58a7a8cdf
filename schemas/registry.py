"""Loads the `.avsc` files once and finds a message's writer schema by fingerprint.

Files are named ``<subject>.v<version>.avsc``. Every message starts with the
Avro single-object header (``C3 01`` and the 8-byte CRC-64-AVRO fingerprint of
its writer schema), so a reader resolves schema evolution without a registry
service: it looks the fingerprint up here and reads with the latest version.

Usage events travel in batches: one Kafka message holds many events of one
license as a *columnar* record (``UsageBatch``), one array per event field.
That schema is derived from the event schema, so ``usage_event.v<N>.avsc``
stays the only file to edit.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastavro import parse_schema
from fastavro.schema import fingerprint, to_parsing_canonical_form

from .errors import SchemaError, UnknownSchemaError

SCHEMA_DIR = Path(__file__).resolve().parent
_FILE_RE = re.compile(r"^(?P<subject>[a-z_]+)\.v(?P<version>\d+)\.avsc$")

USAGE_EVENT = "usage_event"
USAGE_BATCH = "usage_batch"
LICENSE = "license"
ALERT = "alert"


@dataclass(frozen=True)
class SchemaVersion:
    """One version of one subject, parsed once."""

    subject: str
    version: int
    schema: dict[str, Any] = field(repr=False)
    parsed: Any = field(repr=False, compare=False)
    fingerprint: bytes = field(default=b"")

    @classmethod
    def build(cls, subject: str, version: int, schema: dict[str, Any]) -> "SchemaVersion":
        try:
            parsed = parse_schema(copy.deepcopy(schema))
            canonical = to_parsing_canonical_form(schema)
        except Exception as exc:  # fastavro raises several types for bad schemas
            raise SchemaError(f"{subject} v{version}: invalid Avro schema: {exc}") from exc
        fp = bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))[::-1]  # spec: little-endian
        return cls(subject, version, schema, parsed, fp)

    @property
    def field_names(self) -> list[str]:
        return [f["name"] for f in self.schema["fields"]]


def columnar(event_schema: dict[str, Any]) -> dict[str, Any]:
    """The batch schema for an event schema: one array per field, same names and order."""
    fields = []
    for f in event_schema["fields"]:
        fields.append({
            "name": f["name"],
            "type": {"type": "array", "items": copy.deepcopy(f["type"])},
            "default": [],
            **({"doc": f["doc"]} if "doc" in f else {}),
        })
    return {
        "type": "record",
        "name": event_schema["name"].replace("Event", "") + "Batch",
        "namespace": event_schema.get("namespace", ""),
        "doc": "Many usage events of one license, stored column by column.",
        "fields": fields,
    }


class SchemaRegistry:
    """All schema versions found in one directory, indexed by subject and fingerprint."""

    def __init__(self, directory: Path = SCHEMA_DIR) -> None:
        self._by_subject: dict[str, list[SchemaVersion]] = {}
        self._by_fp: dict[bytes, SchemaVersion] = {}
        files = sorted(directory.glob("*.avsc"))
        if not files:
            raise SchemaError(f"no .avsc files in {directory}")
        for path in files:
            m = _FILE_RE.match(path.name)
            if not m:
                raise SchemaError(f"{path.name}: expected <subject>.v<N>.avsc")
            try:
                schema = json.loads(path.read_text())
            except json.JSONDecodeError as exc:
                raise SchemaError(f"{path.name}: not JSON: {exc}") from exc
            version = int(m["version"])
            self._add(SchemaVersion.build(m["subject"], version, schema))
            if m["subject"] == USAGE_EVENT:
                self._add(SchemaVersion.build(USAGE_BATCH, version, columnar(schema)))
        for versions in self._by_subject.values():
            versions.sort(key=lambda v: v.version)

    def _add(self, sv: SchemaVersion) -> None:
        self._by_subject.setdefault(sv.subject, []).append(sv)
        self._by_fp[sv.fingerprint] = sv

    def subjects(self) -> list[str]:
        return sorted(self._by_subject)

    def versions(self, subject: str) -> list[SchemaVersion]:
        try:
            return list(self._by_subject[subject])
        except KeyError:
            raise SchemaError(f"unknown schema subject {subject!r}") from None

    def latest(self, subject: str) -> SchemaVersion:
        return self.versions(subject)[-1]

    def by_fingerprint(self, fp: bytes) -> SchemaVersion:
        try:
            return self._by_fp[fp]
        except KeyError:
            raise UnknownSchemaError(f"unknown writer schema fingerprint {fp.hex()}") from None


@functools.cache
def default_registry() -> SchemaRegistry:
    """The registry of the schemas shipped with this package, loaded on first use."""
    return SchemaRegistry(SCHEMA_DIR)

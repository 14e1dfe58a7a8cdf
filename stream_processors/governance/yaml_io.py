"""The inventory as a YAML file: ``models:`` and ``use_cases:`` lists of entries (import and export).

Field names are those of ``InventoryItem`` (``review_date`` as YYYY-MM-DD);
lists (``data_categories``, ``controls``, ``allowed_models``) are YAML lists.
An exported file imports back to the same entries.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import date
from typing import Any, Iterable

import yaml

from .errors import InventoryError
from .inventory import MODEL, USE_CASE, InventoryItem

SECTIONS = {"models": MODEL, "use_cases": USE_CASE}
_NAMES = {f.name for f in fields(InventoryItem)} - {"kind", "updated_at_us"}


def parse_inventory(text: str) -> list[InventoryItem]:
    """Entries of a YAML inventory file; InventoryError naming the entry and field on a bad one."""
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise InventoryError(f"inventory file is not valid YAML: {exc}") from None
    if not isinstance(doc, dict) or set(doc) - set(SECTIONS):
        raise InventoryError(f"an inventory file has the sections {', '.join(SECTIONS)} only")
    return [_item(kind, n, e) for section, kind in SECTIONS.items() for n, e in enumerate(doc.get(section) or [], 1)]


def _item(kind: str, n: int, entry: Any) -> InventoryItem:
    if not isinstance(entry, dict) or "id" not in entry:
        raise InventoryError(f"{kind} entry {n}: a mapping with at least an id")
    unknown = set(entry) - _NAMES
    if unknown:
        raise InventoryError(f"{kind} {entry['id']}: unknown fields {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {k: str(v) for k, v in entry.items()}
    for name in ("data_categories", "controls", "allowed_models"):
        values[name] = tuple(str(x) for x in entry.get(name) or ())
    review = entry.get("review_date")
    values["review_date"] = None if review is None else review if isinstance(review, date) else \
        date.fromisoformat(str(review))
    return InventoryItem(kind=kind, **values)


def dump_inventory(items: Iterable[InventoryItem]) -> str:
    """A YAML file of ``items`` (defaults left out, so the file reads like a hand-written one)."""
    blank = {f.name: f.default for f in fields(InventoryItem)}
    doc: dict[str, list[dict[str, Any]]] = {s: [] for s in SECTIONS}
    for item in sorted(items, key=lambda i: i.key):
        rec = item.to_record()
        entry = {k: v for k, v in rec.items() if k in _NAMES and v not in (blank.get(k), [], (), None, "")}
        entry["id"] = item.id
        if item.review_date is not None:
            entry["review_date"] = item.review_date.isoformat()
        doc["models" if item.kind == MODEL else "use_cases"].append(entry)
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)

"""The AI inventory: models (with an approval lifecycle and provenance) and use cases (applications).

An event names its model (``model``, optionally looked up as ``model@version``
first) and its use case (``use_case``, or ``app`` for events that carry none:
v1 producers and services that only know their application name). Whatever the
inventory does not list is *unregistered*: policy rules see
``model.registered`` / ``use_case.registered`` as false (shadow AI).

Model lifecycle: proposed → in_review → approved → restricted → retired. A
step back to review is allowed from approved and restricted (re-review), and
approved ↔ restricted both ways; anything may be retired; retired is final.
Every change is a new version on the compacted topic with who made it and why,
which the sink keeps as the approval history.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime
from typing import Any

from .errors import InventoryError

MODEL, USE_CASE = "model", "use_case"
KINDS = (MODEL, USE_CASE)
PROPOSED, IN_REVIEW, APPROVED, RESTRICTED, RETIRED = "proposed", "in_review", "approved", "restricted", "retired"
STATUSES = (PROPOSED, IN_REVIEW, APPROVED, RESTRICTED, RETIRED)
STEPS: dict[str, frozenset[str]] = {
    PROPOSED: frozenset({IN_REVIEW, RETIRED}),
    IN_REVIEW: frozenset({APPROVED, RESTRICTED, PROPOSED, RETIRED}),
    APPROVED: frozenset({RESTRICTED, IN_REVIEW, RETIRED}),
    RESTRICTED: frozenset({APPROVED, IN_REVIEW, RETIRED}),
    RETIRED: frozenset(),
}


@dataclass(frozen=True)
class InventoryItem:
    """One model or use case, as published (the ``InventoryItem`` Avro record)."""

    kind: str
    id: str
    name: str = ""
    status: str = PROPOSED
    provider: str = ""
    family: str = ""
    version: str = ""
    review_date: date | None = None
    model_card: str = ""
    lineage: str = ""
    certification: str = ""
    owner_team: str = ""
    accountable: str = ""
    purpose: str = ""
    category: str = ""
    environment: str = ""
    data_categories: tuple[str, ...] = ()
    sensitivity: str = ""
    controls: tuple[str, ...] = ()
    allowed_models: tuple[str, ...] = ()
    changed_by: str = ""
    change_note: str = ""
    updated_at_us: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InventoryError(f"{self.id}: kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if not self.id:
            raise InventoryError("an inventory entry needs an id")
        if self.status not in STATUSES:
            raise InventoryError(f"{self.kind} {self.id}: status must be one of {', '.join(STATUSES)}, "
                                 f"got {self.status!r}")

    @property
    def key(self) -> str:
        """The compacted topic's key: ``<kind>:<id>``."""
        return f"{self.kind}:{self.id}"

    def to_record(self) -> dict[str, Any]:
        r = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "updated_at_us"}
        for name in ("data_categories", "controls", "allowed_models"):
            r[name] = list(r[name])
        r["updated_at"] = self.updated_at_us
        return r

    @classmethod
    def from_record(cls, r: dict[str, Any]) -> "InventoryItem":
        values = {f.name: r[f.name] for f in fields(cls) if f.name in r}
        for name in ("data_categories", "controls", "allowed_models"):
            values[name] = tuple(values.get(name) or ())
        values["updated_at_us"] = to_us(r.get("updated_at", 0))
        return cls(**values)

    def step_to(self, status: str, changed_by: str, note: str = "") -> "InventoryItem":
        """This entry moved to ``status`` by ``changed_by``; InventoryError if the lifecycle forbids it."""
        if status not in STEPS.get(self.status, frozenset()):
            allowed = ", ".join(sorted(STEPS[self.status])) or "none (retired is final)"
            raise InventoryError(f"{self.kind} {self.id}: cannot go from {self.status} to {status} "
                                 f"(allowed: {allowed})")
        if not changed_by:
            raise InventoryError(f"{self.kind} {self.id}: a status change needs who approved it (--by)")
        return replace(self, status=status, changed_by=changed_by, change_note=note)


def to_us(value: Any) -> int:
    """Microseconds since the epoch of an Avro timestamp as fastavro gives it (datetime) or as stored (int)."""
    if isinstance(value, datetime):
        return int(value.timestamp() * 1_000_000)
    return int(value or 0)


class Inventory:
    """The current inventory of one worker: models by id, use cases by id."""

    def __init__(self) -> None:
        self.models: dict[str, InventoryItem] = {}
        self.use_cases: dict[str, InventoryItem] = {}
        self.version = 0  # bumped on every change: compiled lookups keyed on it are rebuilt

    def put(self, item: InventoryItem) -> None:
        (self.models if item.kind == MODEL else self.use_cases)[item.id] = item
        self.version += 1

    def remove(self, key: str) -> None:
        kind, _, ident = key.partition(":")
        (self.models if kind == MODEL else self.use_cases).pop(ident, None)
        self.version += 1

    def model(self, name: str, version: str = "") -> InventoryItem | None:
        """The entry of ``name@version`` if listed, else of ``name``."""
        if version:
            hit = self.models.get(f"{name}@{version}")
            if hit is not None:
                return hit
        return self.models.get(name)

    def use_case(self, use_case: str, app: str = "") -> InventoryItem | None:
        """The entry of the event's use case (or, when it names none, of its app)."""
        return self.use_cases.get(use_case or app)

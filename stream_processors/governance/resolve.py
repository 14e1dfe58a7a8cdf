"""Turning a distinct subject of a message (a tuple of event columns) into the values rules read.

``model.*`` and ``use_case.*`` come from the inventory; ``user.new`` and
``app.new`` from what this license has seen before (``Novelty``, kept in the
license state so they survive restarts and are judged where the events are
ordered). Unregistered models and use cases read ``registered`` false and
status ``unregistered``.
"""

from __future__ import annotations

import hashlib
from typing import Any, Callable

from .inventory import APPROVED, Inventory, InventoryItem
from .policy import Policy

UNREGISTERED = "unregistered"
BASE_COLUMNS = ("team", "app", "use_case", "model")  # exceptions' scope and alerts need these
SEEN_CAP = 10_000  # ids remembered per scope; beyond it the oldest are forgotten (and would count as new again)
Getter = Callable[[tuple[Any, ...], "InventoryItem | None", "InventoryItem | None"], Any]


def columns_for(fields: tuple[str, ...]) -> tuple[str, ...]:
    """The event columns a policy's fields need, besides the base ones, in a fixed order."""
    cols = set(BASE_COLUMNS)
    for f in fields:
        ns, _, attr = f.partition(".")
        if ns == "event":
            cols.add(attr)
        elif ns == "model":
            cols.add("model_version")
        elif f == "user.new":
            cols.add("user_id")
    return tuple(sorted(cols))


class Novelty:
    """Users seen per use case and apps seen, per license: ``{scope: {id hash: first day}}``.

    Ids are kept as 12 hex characters of their SHA-256 (the state stays small and
    holds no raw user ids). ``mark`` False answers without remembering (the check path).
    """

    def __init__(self, seen: dict[str, dict[str, int]], day: int, mark: bool = True) -> None:
        self.seen, self.day, self.mark = seen, day, mark

    def is_new(self, scope: str, ident: str) -> bool:
        if not ident:
            return False
        h = hashlib.sha256(ident.encode()).hexdigest()[:12]
        known = self.seen.get(scope)
        if known is not None and h in known:
            return False
        if self.mark:
            if known is None:
                known = self.seen[scope] = {}
            known[h] = self.day
            if len(known) > SEEN_CAP:
                del known[next(iter(known))]
        return True


class Resolver:
    """Callable: distinct key (values of ``columns``) -> values of ``policy.fields``."""

    def __init__(self, policy: Policy, inventory: Inventory, novelty: Novelty | None) -> None:
        self.columns = columns_for(policy.fields)
        self.col = {c: i for i, c in enumerate(self.columns)}
        self.inventory, self.novelty = inventory, novelty
        self.getters = [self._getter(f) for f in policy.fields]
        self._model_version = self.col.get("model_version")

    def __call__(self, key: tuple[Any, ...]) -> tuple[Any, ...]:
        m = self.model_of(key)
        u = self.inventory.use_case(key[self.col["use_case"]], key[self.col["app"]])
        return tuple(g(key, m, u) for g in self.getters)

    def model_of(self, key: tuple[Any, ...]) -> InventoryItem | None:
        version = key[self._model_version] if self._model_version is not None else ""
        return self.inventory.model(key[self.col["model"]], version)

    def use_case_id(self, key: tuple[Any, ...]) -> str:
        return str(key[self.col["use_case"]] or key[self.col["app"]])

    def _getter(self, field: str) -> Getter:
        ns, _, attr = field.partition(".")
        if ns == "event":
            i = self.col[attr]
            return lambda k, m, u: k[i]
        if ns == "model":
            return self._model_getter(attr)
        if ns == "use_case":
            return self._use_case_getter(attr)
        if field == "user.new":
            iu = self.col["user_id"]
            return lambda k, m, u: self._new(f"u|{self.use_case_id(k)}", k[iu])
        ia = self.col["app"]
        return lambda k, m, u: self._new("a|", k[ia])

    def _new(self, scope: str, ident: str) -> bool:
        return self.novelty.is_new(scope, ident) if self.novelty is not None else False

    def _model_getter(self, attr: str) -> Getter:
        im = self.col["model"]
        if attr == "id":
            return lambda k, m, u: k[im]
        if attr == "registered":
            return lambda k, m, u: m is not None
        if attr == "status":
            return lambda k, m, u: m.status if m is not None else UNREGISTERED
        if attr == "allowed":
            return lambda k, m, u: _allowed(k[im], m, u)
        return lambda k, m, u: getattr(m, attr) if m is not None else ""

    def _use_case_getter(self, attr: str) -> Getter:
        if attr == "id":
            return lambda k, m, u: self.use_case_id(k)
        if attr == "registered":
            return lambda k, m, u: u is not None
        if attr == "status":
            return lambda k, m, u: u.status if u is not None else UNREGISTERED
        if attr in ("data_categories", "controls"):
            return lambda k, m, u: getattr(u, attr) if u is not None else ()
        return lambda k, m, u: getattr(u, attr) if u is not None else ""


def _allowed(model: str, m: InventoryItem | None, u: InventoryItem | None) -> bool:
    """The use case lists the model, or lists none and the model is approved."""
    if u is not None and u.allowed_models:
        return model in u.allowed_models or (m is not None and m.id in u.allowed_models)
    return m is not None and m.status == APPROVED

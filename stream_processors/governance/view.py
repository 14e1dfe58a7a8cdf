"""The governance data one worker holds: inventory, policies, exceptions, prices and budgets.

Every worker holds all of it (it is small and changes by hand, not at event
rates), read from compacted topics to their end at start and followed after
(``feed.py``). A policy is compiled once per published version; the resolver
that maps a message's subjects to rule fields is rebuilt only when the policy
changes.
"""

from __future__ import annotations

import logging
from typing import Callable

from meterstream.errors import MeterstreamError
from meterstream.schemas import RecordCodec

from .budgets import Budget, BudgetBook
from .exceptions import ExceptionBook, PolicyException
from .inventory import Inventory, InventoryItem
from .policy import Policy, merge, parse_policy
from .prices import PriceBook
from .resolve import Resolver
from .spend import COLUMNS as SPEND_COLUMNS

log = logging.getLogger(__name__)

INVENTORY, POLICIES, EXCEPTIONS, PRICES, BUDGETS = "inventory", "policies", "exceptions", "prices", "budgets"
SUBJECTS = {INVENTORY: "inventory", POLICIES: "policy", EXCEPTIONS: "policy_exception",
            PRICES: "price_catalog", BUDGETS: "budget"}


class GovernanceView:
    """What a worker knows about the organisation, updated record by record."""

    def __init__(self) -> None:
        self.inventory = Inventory()
        self.policies: dict[str, Policy] = {}
        self.policy: Policy | None = None  # every loaded policy's rules, compiled together
        self.exceptions = ExceptionBook()
        self.prices: PriceBook | None = None
        self.budgets = BudgetBook()
        self.ready = False  # set once every topic was read to its end
        self._codecs = {kind: RecordCodec(subject) for kind, subject in SUBJECTS.items()}
        self._resolver: Resolver | None = None
        self._columns: tuple[str, ...] | None = None  # derived from the policy and prices: reset when they change

    def apply(self, kind: str, key: bytes | None, value: bytes | None) -> bool:
        """Apply one record of topic ``kind``; False (and a log line) if it is refused."""
        if key is None:
            return False
        k = key.decode()
        try:
            self._APPLY[kind](self, k, None if value is None else self._codecs[kind].decode(value))
        except (MeterstreamError, KeyError, TypeError, ValueError) as exc:
            log.error("%s record %s refused (the previous value is kept): %s", kind, k, exc)
            return False
        return True

    def _inventory(self, key: str, record: dict | None) -> None:
        if record is None:
            self.inventory.remove(key)
        else:
            self.inventory.put(InventoryItem.from_record(record))

    def _policies(self, key: str, record: dict | None) -> None:
        if record is None or not record["text"].strip():
            self.policies.pop(key, None)
        else:
            self.policies[key] = parse_policy(record["text"], record["policy_id"], record["version"])
        self.policy = merge(sorted(self.policies.values(), key=lambda p: p.policy_id))
        self._resolver, self._columns = None, None

    def _exceptions(self, key: str, record: dict | None) -> None:
        if record is None:
            self.exceptions.remove(key)
        else:
            self.exceptions.put(PolicyException.from_record(record))

    def _prices(self, key: str, record: dict | None) -> None:
        self.prices = None if record is None else PriceBook.from_record(record)
        self._columns = None

    def _budgets(self, key: str, record: dict | None) -> None:
        if record is None:
            self.budgets.remove(key)
        else:
            self.budgets.put(Budget.from_record(record))

    _APPLY: dict[str, Callable[["GovernanceView", str, dict | None], None]] = {
        INVENTORY: _inventory, POLICIES: _policies, EXCEPTIONS: _exceptions, PRICES: _prices, BUDGETS: _budgets}

    def resolver(self) -> Resolver | None:
        """The resolver of the current policy (None without rules)."""
        if self.policy is None or not self.policy.rules:
            return None
        if self._resolver is None:
            self._resolver = Resolver(self.policy, self.inventory, None)
        return self._resolver

    def columns(self) -> tuple[str, ...]:
        """Event columns a usage message must be decoded with for what is loaded now (kept until the
        policy or the prices change: asked for every usage message)."""
        if self._columns is None:
            cols: set[str] = set()
            r = self.resolver()
            if r is not None:
                cols.update(r.columns)
            if self.prices is not None:
                cols.update(SPEND_COLUMNS)
            self._columns = tuple(sorted(cols))
        return self._columns

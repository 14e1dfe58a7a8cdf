"""Exceptions to policy rules: which violations they suppress, and until when.

An exception names one rule, a scope (event fields that must all match: use
case, team, app, model, license, user, environment; none = everything), a
reason, an approver and an expiry. It is valid from its creation until it
expires or is revoked, judged at the *event's* time, so a replay decides the
same way. A suppressed violation is not silent: it raises a
``policy_excepted`` alert naming the exception (once per rule, subject and
day), which is the evidence that the exception was used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from .inventory import to_us

SCOPE_FIELDS = ("use_case", "team", "app", "model", "license_id", "user_id", "environment")


@dataclass(frozen=True)
class PolicyException:
    """One exception, as published (the ``PolicyException`` Avro record)."""

    exception_id: str
    rule_id: str
    reason: str
    approver: str
    expires_at_us: int
    created_at_us: int = 0
    scope: Mapping[str, str] = field(default_factory=dict)
    requested_by: str = ""
    revoked_at_us: int | None = None
    note: str = ""
    updated_at_us: int = 0

    def valid_at(self, t_us: int) -> bool:
        end = self.expires_at_us if self.revoked_at_us is None else min(self.expires_at_us, self.revoked_at_us)
        return self.created_at_us <= t_us < end

    def covers(self, subject: Mapping[str, Any]) -> bool:
        return all(subject.get(k) == v for k, v in self.scope.items())

    def to_record(self) -> dict[str, Any]:
        return {"exception_id": self.exception_id, "rule_id": self.rule_id, "scope": dict(self.scope),
                "reason": self.reason, "approver": self.approver, "requested_by": self.requested_by,
                "created_at": self.created_at_us, "expires_at": self.expires_at_us,
                "revoked_at": self.revoked_at_us, "note": self.note, "updated_at": self.updated_at_us}

    @classmethod
    def from_record(cls, r: Mapping[str, Any]) -> "PolicyException":
        revoked = r.get("revoked_at")
        return cls(r["exception_id"], r["rule_id"], r["reason"], r["approver"], to_us(r["expires_at"]),
                   to_us(r.get("created_at")), dict(r.get("scope") or {}), r.get("requested_by", ""),
                   None if revoked is None else to_us(revoked), r.get("note", ""), to_us(r.get("updated_at")))


class ExceptionBook:
    """The exceptions a worker holds, by rule."""

    def __init__(self) -> None:
        self.by_id: dict[str, PolicyException] = {}
        self.by_rule: dict[str, list[PolicyException]] = {}

    def put(self, e: PolicyException) -> None:
        self.remove(e.exception_id)
        self.by_id[e.exception_id] = e
        self.by_rule.setdefault(e.rule_id, []).append(e)

    def remove(self, exception_id: str) -> None:
        old = self.by_id.pop(exception_id, None)
        if old is not None:
            self.by_rule[old.rule_id] = [x for x in self.by_rule[old.rule_id] if x.exception_id != exception_id]

    def for_rule(self, rule_id: str) -> list[PolicyException]:
        return self.by_rule.get(rule_id, [])

    def covering(self, rule_id: str, subject: Mapping[str, Any], t_us: int) -> PolicyException | None:
        """A valid exception of ``rule_id`` at ``t_us`` whose scope matches ``subject``, or None."""
        for e in self.by_rule.get(rule_id, ()):
            if e.valid_at(t_us) and e.covers(subject):
                return e
        return None

"""Policy at validate/check time: may this use go ahead under the organisation's rules?

``judge_request`` evaluates the blocking rules (``block``, ``require_exception``)
over one prospective use described by the request's fields, with the
exceptions valid *now*. It reads, never marks: asking is not using, so
``user.new`` and ``app.new`` answer from what the license has seen without
remembering the asker. The HTTP check (``views.py``) calls it after the
license decision (``enforcement.decide``); validate and reserve by key
(``access.py``) call it after ``validation.judge`` found the use valid, with
the event fields of the JSON body (``body_fields``). A refusal there is a
decision like any other (code ``policy_blocked`` or ``exception_required``,
nothing reserved, no machine recorded).
"""

from __future__ import annotations

from typing import Any, Mapping

from ..state import LicenseState
from ..validation import BadRequest
from .exceptions import SCOPE_FIELDS
from .policy import REQUIRE_EXCEPTION, evaluate
from .resolve import Novelty, Resolver
from .rule_language import EVENT_COLUMNS
from .view import GovernanceView

POLICY_BLOCKED, EXCEPTION_REQUIRED = "policy_blocked", "exception_required"


def request_fields(query: Mapping[str, str]) -> dict[str, Any]:
    """Event fields of a check request's query (``data_categories`` comma-separated); absent ones are ''.
    Judged like a validate body: a field too long (or holding NUL) raises ``BadRequest`` naming it."""
    return body_fields(query)


def body_fields(body: Mapping[str, Any], max_text: int = 256) -> dict[str, Any]:
    """Event fields of a validate/reserve JSON body (``data_categories`` a list of strings or one
    comma-separated string); absent ones are ''. A field of the wrong type raises ``ValueError``
    naming it (``validation.BadRequest``, ``field`` attribute)."""
    out: dict[str, Any] = {}
    for c in EVENT_COLUMNS:
        v = body.get(c)
        if c == "data_categories":
            items = v.split(",") if isinstance(v, str) else v if isinstance(v, list) else [] if v is None else None
            if items is None or not all(isinstance(x, str) and len(x) <= max_text for x in items):
                raise BadRequest(c, "must be a list of strings")
            out[c] = tuple(x for x in items if x)
        elif v is None:
            out[c] = ""
        elif not isinstance(v, str) or len(v) > max_text or "\x00" in v:
            raise BadRequest(c, f"must be a string of at most {max_text} characters")
        else:
            out[c] = v
    return out


def judge_request(view: GovernanceView, state: LicenseState | None, license_id: str, fields: Mapping[str, Any],
                  now_us: int) -> dict[str, Any] | None:
    """The first blocking rule the use would break and no exception covers, as a decision; None if allowed."""
    policy = view.policy
    if policy is None or not any(r.blocks for r in policy.rules):
        return None
    resolver = Resolver(policy, view.inventory, Novelty((state or LicenseState()).seen, 0, mark=False))
    key = tuple(fields.get(c, "") for c in resolver.columns)
    for m in evaluate(policy, [[v] for v in key], resolver):
        rule = m.rule
        if not rule.blocks:
            continue
        subject = {f: fields.get(f, "") for f in SCOPE_FIELDS}
        subject.update(use_case=resolver.use_case_id(key), license_id=license_id)
        if view.exceptions.covering(rule.id, subject, now_us) is not None:
            continue
        decision = EXCEPTION_REQUIRED if rule.action == REQUIRE_EXCEPTION else POLICY_BLOCKED
        return {"decision": decision, "reason": f"policy rule {rule.id}: {rule.description or rule.condition.text}",
                "rule_id": rule.id, "rule_version": rule.version, "policy_id": policy.policy_id,
                "policy_version": policy.version}
    return None


def overlay(body: dict[str, Any], decision: dict[str, Any] | None) -> dict[str, Any]:
    """The check body with a policy refusal laid over an allowing license decision."""
    if decision is None or body.get("decision") not in ("allow", "soft_exceeded"):
        return body
    return {**body, "decision": decision["decision"], "reason": decision["reason"],
            "policy": {k: decision[k] for k in ("rule_id", "rule_version", "policy_id", "policy_version")}}

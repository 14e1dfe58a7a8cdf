"""Policy files and rules, and where they are decided: evaluation over one message's columns.

A policy is a versioned YAML document (``sample_policy.yaml`` is the shipped
example)::

    policy: acme-ai
    version: 3
    rules:
      - id: prod-approved-models-only
        description: Only approved models in production
        when: event.environment == "prod" and model.status != "approved"
        severity: critical              # info | warning | critical
        action: block                   # alert | block | require_exception
        subject: [use_case.id, event.model]   # optional: what one alert per day is about

Evaluation: the fields every rule reads are resolved once per *distinct
subject* of a message (the tuple of the event columns the policy needs), not
per event: a message is many events of one license, and its events share a
handful of (app, model, team, ...) combinations. The distinct tuples are found
with one dict comprehension over the zipped columns; each is resolved against
the inventory (``resolve.py``) and every compiled rule runs on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import yaml

from .errors import PolicyError
from .rule_language import Condition, Test

SEVERITIES = ("info", "warning", "critical")
ALERT, BLOCK, REQUIRE_EXCEPTION = "alert", "block", "require_exception"
ACTIONS = (ALERT, BLOCK, REQUIRE_EXCEPTION)
DEFAULT_SUBJECT = ("use_case.id", "event.model")


@dataclass(frozen=True)
class Rule:
    """One rule: when its condition holds for an event, that event violates it."""

    id: str
    description: str
    condition: Condition
    severity: str
    action: str
    subject: tuple[str, ...]
    version: int
    test: Test | None = None

    @property
    def blocks(self) -> bool:
        """Whether the check path refuses a use this rule matches (unless an exception covers it)."""
        return self.action in (BLOCK, REQUIRE_EXCEPTION)


@dataclass(frozen=True)
class Policy:
    """A compiled policy: its rules, and the field order their closures read."""

    policy_id: str
    version: int
    rules: tuple[Rule, ...]
    fields: tuple[str, ...]  # every field any rule (or subject) reads, in values-tuple order
    text: str = ""

    @property
    def index(self) -> dict[str, int]:
        return {f: i for i, f in enumerate(self.fields)}


def parse_policy(text: str, policy_id: str | None = None, version: int | None = None) -> Policy:
    """Parse and compile a policy file; PolicyError naming the rule and what is wrong."""
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise PolicyError(f"policy is not valid YAML: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("rules", []), list):
        raise PolicyError("a policy is a mapping with policy, version and a list of rules")
    pid = str(policy_id or doc.get("policy") or "")
    if not pid:
        raise PolicyError("the policy needs an id (policy: <id>)")
    ver = int(version if version is not None else doc.get("version", 1))
    rules = [_rule(r, n, ver) for n, r in enumerate(doc.get("rules") or [], start=1)]
    ids = [r.id for r in rules]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise PolicyError(f"policy {pid}: rule ids used twice: {', '.join(twice)}")
    return compile_policy(pid, ver, rules, text)


def _rule(r: Any, n: int, policy_version: int) -> Rule:
    if not isinstance(r, dict) or not r.get("id") or not r.get("when"):
        raise PolicyError(f"rule {n}: needs at least id and when")
    rid = str(r["id"])
    severity, action = str(r.get("severity", "warning")), str(r.get("action", ALERT))
    if severity not in SEVERITIES:
        raise PolicyError(f"rule {rid}: severity must be one of {', '.join(SEVERITIES)}, got {severity!r}")
    if action not in ACTIONS:
        raise PolicyError(f"rule {rid}: action must be one of {', '.join(ACTIONS)}, got {action!r}")
    subject = tuple(str(s) for s in r.get("subject") or DEFAULT_SUBJECT)
    cond = Condition(str(r["when"]), where=f"rule {rid}")
    for s in subject:
        Condition(s, where=f"rule {rid} subject")  # each subject entry must be a known field
    return Rule(rid, str(r.get("description", "")), cond, severity, action, subject,
                int(r.get("version", policy_version)))


def compile_policy(policy_id: str, version: int, rules: Sequence[Rule], text: str = "") -> Policy:
    """Fix the field order and compile every rule's closure against it."""
    names = sorted({f for r in rules for f in r.condition.fields} | {f for r in rules for f in r.subject})
    index = {f: i for i, f in enumerate(names)}
    compiled = tuple(Rule(r.id, r.description, r.condition, r.severity, r.action, r.subject, r.version,
                          r.condition.compile(index)) for r in rules)
    return Policy(policy_id, version, compiled, tuple(names), text)


def merge(policies: Sequence[Policy]) -> Policy | None:
    """All loaded policies as one (rule ids prefixed by nothing: ids must be unique across policies)."""
    if not policies:
        return None
    if len(policies) == 1:
        return policies[0]
    rules = [r for p in policies for r in p.rules]
    return compile_policy("+".join(p.policy_id for p in policies), max(p.version for p in policies), rules)


@dataclass(frozen=True)
class Match:
    """A rule that held for a distinct subject: the rule, the subject's values, its first event."""

    rule: Rule
    values: tuple[Any, ...]
    key: tuple[Any, ...]
    index: int


def distinct_subjects(columns: Sequence[Sequence[Any]]) -> list[tuple[tuple[Any, ...], int]]:
    """(key, first index) of each distinct combination of the columns, in order of first appearance."""
    keys = zip(*columns)
    first = {k: i for i, k in reversed(list(enumerate(keys)))}
    return sorted(first.items(), key=lambda kv: kv[1])


def evaluate(policy: Policy, columns: Sequence[Sequence[Any]],
             resolve: Callable[[tuple[Any, ...]], tuple[Any, ...]]) -> list[Match]:
    """Every (rule, distinct subject) whose condition holds; ``resolve`` turns a key into field values."""
    out: list[Match] = []
    rules = policy.rules
    for key, i in distinct_subjects(columns):
        values = resolve(key)
        for rule in rules:
            if rule.test is not None and rule.test(values):
                out.append(Match(rule, values, key, i))
    return out

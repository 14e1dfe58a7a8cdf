"""The condition language of policy rules: a small, safe expression syntax compiled once to closures.

A condition reads like a Python expression over named fields::

    event.environment == "prod" and model.status != "approved"
    any_of(event.data_categories, ["customer", "pii"]) and model.family in ["gpt-4o", "llama"]
    not use_case.registered
    user.new and use_case.sensitivity == "restricted"

Grammar (anything else is refused when the policy is loaded, naming the rule):

* fields: ``event.<column>``, ``model.<attribute>``, ``use_case.<attribute>``,
  ``user.new``, ``app.new`` (``FIELDS`` lists them with their types);
* literals: strings, numbers, ``true``/``false``, lists of literals ``[...]``;
* ``==``, ``!=`` between fields and literals; ``x in [..]``, ``x not in [..]``;
  ``"pii" in event.data_categories`` (membership in a list field);
* ``any_of(list_field, [..])``, ``all_of(list_field, [..])``, ``none_of(list_field, [..])``;
* ``and``, ``or``, ``not``, parentheses; a boolean field on its own.

The text is parsed with Python's ``ast`` in eval mode and only the node types
above are accepted, so nothing is ever executed. A compiled condition is a
closure over a tuple of field values (indexed, no dict lookups), evaluated once
per distinct subject of a message, not per event.
"""

from __future__ import annotations

import ast
from typing import Any, Callable, Sequence

from .errors import PolicyError

Values = Sequence[Any]
Test = Callable[[Values], Any]

EVENT_COLUMNS = ("provider", "model", "model_version", "environment", "team", "app", "use_case", "user_id",
                 "sensitivity", "data_categories", "purpose", "feature", "region", "source", "stage", "metric",
                 "hardware_id")
MODEL_ATTRS = ("id", "registered", "status", "family", "provider", "version", "certification", "allowed")
USE_CASE_ATTRS = ("id", "registered", "status", "category", "environment", "sensitivity", "data_categories",
                  "controls", "owner_team", "accountable", "purpose")
LIST_FIELDS = frozenset({"event.data_categories", "use_case.data_categories", "use_case.controls"})
FIELDS: frozenset[str] = frozenset(
    [f"event.{c}" for c in EVENT_COLUMNS] + [f"model.{a}" for a in MODEL_ATTRS]
    + [f"use_case.{a}" for a in USE_CASE_ATTRS] + ["user.new", "app.new"])
FUNCTIONS = ("any_of", "all_of", "none_of")


class Condition:
    """One rule's condition: parsed and checked at load, compiled against the policy's field order."""

    def __init__(self, text: str, where: str = "condition") -> None:
        self.text, self.where = text, where
        try:
            self.tree = ast.parse(text.strip(), mode="eval").body
        except SyntaxError as exc:
            raise PolicyError(f"{where}: not a valid condition: {exc.msg} in {text!r}") from None
        self.fields: set[str] = set()
        self._check(self.tree)

    def _fail(self, node: ast.AST, why: str) -> PolicyError:
        return PolicyError(f"{self.where}: {why}: {ast.unparse(node)!r} in {self.text!r}")

    def _check(self, node: ast.AST) -> None:
        """Accept only the grammar above; collect the fields referenced."""
        if isinstance(node, ast.BoolOp) or isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            for child in (node.values if isinstance(node, ast.BoolOp) else [node.operand]):
                self._check(child)
        elif isinstance(node, ast.Compare):
            if len(node.ops) != 1 or not isinstance(node.ops[0], (ast.Eq, ast.NotEq, ast.In, ast.NotIn)):
                raise self._fail(node, "only one ==, !=, in or not in per comparison")
            self._operand(node.left)
            self._operand(node.comparators[0])
        elif isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS or len(node.args) != 2 \
                    or node.keywords or _field(node.args[0]) not in LIST_FIELDS:
                raise self._fail(node, f"functions are {', '.join(FUNCTIONS)}(list field, [values])")
            self.fields.add(_field(node.args[0]) or "")
            self._operand(node.args[1])
        else:
            name = self._operand(node)
            if name is not None and name in LIST_FIELDS:
                raise self._fail(node, "a list field is not a condition on its own (use any_of)")

    def _operand(self, node: ast.AST) -> str | None:
        if isinstance(node, (ast.List, ast.Tuple)):
            for item in node.elts:
                if _literal(item) is _NOT_LITERAL:
                    raise self._fail(item, "lists hold literals only")
            return None
        if _literal(node) is not _NOT_LITERAL:
            return None
        name = _field(node)
        if name is None or name not in FIELDS:
            raise self._fail(node, f"unknown field (known: {', '.join(sorted(FIELDS))})")
        self.fields.add(name)
        return name

    def compile(self, index: dict[str, int]) -> Test:
        """A closure over a values tuple whose positions are given by ``index`` (field -> position)."""
        return _compile(self.tree, index)


_NOT_LITERAL = object()


def _literal(node: ast.AST) -> Any:
    if isinstance(node, ast.Constant) and isinstance(node.value, (str, int, float, bool)):
        return node.value
    if isinstance(node, ast.Name) and node.id in ("true", "false", "True", "False"):
        return node.id in ("true", "True")
    return _NOT_LITERAL


def _field(node: ast.AST) -> str | None:
    """``event.team`` -> "event.team"; anything else -> None."""
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return f"{node.value.id}.{node.attr}"
    return None


def _value(node: ast.AST, index: dict[str, int]) -> tuple[bool, Any]:
    """(is constant, constant value or field position)."""
    if isinstance(node, (ast.List, ast.Tuple)):
        return True, frozenset(_literal(e) for e in node.elts)
    lit = _literal(node)
    if lit is not _NOT_LITERAL:
        return True, lit
    return False, index[_field(node) or ""]


def _compile(node: ast.AST, index: dict[str, int]) -> Test:
    if isinstance(node, ast.BoolOp):
        parts = [_compile(v, index) for v in node.values]
        if isinstance(node.op, ast.And):
            return lambda v: all(p(v) for p in parts)
        return lambda v: any(p(v) for p in parts)
    if isinstance(node, ast.UnaryOp):
        inner = _compile(node.operand, index)
        return lambda v: not inner(v)
    if isinstance(node, ast.Compare):
        return _compare(node.ops[0], _value(node.left, index), _value(node.comparators[0], index))
    if isinstance(node, ast.Call):
        i = index[_field(node.args[0]) or ""]
        wanted = _value(node.args[1], index)[1]
        wanted = wanted if isinstance(wanted, frozenset) else frozenset([wanted])
        name = node.func.id if isinstance(node.func, ast.Name) else ""
        if name == "any_of":
            return lambda v: not wanted.isdisjoint(v[i])
        if name == "all_of":
            return lambda v: wanted.issubset(v[i])
        return lambda v: wanted.isdisjoint(v[i])
    const, x = _value(node, index)
    return (lambda v: x) if const else (lambda v: v[x])


def _compare(op: ast.cmpop, left: tuple[bool, Any], right: tuple[bool, Any]) -> Test:
    """Specialised closures for the common shapes (field op literal); generic otherwise."""
    (lc, lx), (rc, rx) = left, right
    if isinstance(op, (ast.In, ast.NotIn)):
        negate = isinstance(op, ast.NotIn)
        if not lc and rc:
            return (lambda v: v[lx] not in rx) if negate else (lambda v: v[lx] in rx)
        get_l = (lambda v: lx) if lc else (lambda v: v[lx])
        get_r = (lambda v: rx) if rc else (lambda v: v[rx])
        return (lambda v: get_l(v) not in get_r(v)) if negate else (lambda v: get_l(v) in get_r(v))
    eq = isinstance(op, ast.Eq)
    if not lc and rc:
        return (lambda v: v[lx] == rx) if eq else (lambda v: v[lx] != rx)
    if lc and not rc:
        return (lambda v: v[rx] == lx) if eq else (lambda v: v[rx] != lx)
    get_a = (lambda v: lx) if lc else (lambda v: v[lx])
    get_b = (lambda v: rx) if rc else (lambda v: v[rx])
    return (lambda v: get_a(v) == get_b(v)) if eq else (lambda v: get_a(v) != get_b(v))

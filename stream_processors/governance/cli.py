"""``meterstream inventory|policy|exception|alert``: the organisation's AI inventory, rules and remediation."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Any

from ..license.cli import parse_time
from .errors import GovernanceError
from .inventory import MODEL, STATUSES, USE_CASE, InventoryItem


def register(sub: Any) -> None:
    _inventory(sub.add_parser("inventory", help="the AI inventory: models and use cases, approvals, YAML import/export"))
    p = sub.add_parser("policy", help="load, show or check the policy rules")
    a = p.add_subparsers(dest="policy_action", required=True)
    load = a.add_parser("load", help="compile and publish a policy file as its next version")
    load.add_argument("file", type=Path)
    load.add_argument("--by", required=True, help="who publishes it")
    chk = a.add_parser("check", help="compile a policy file and list its rules (no Kafka)")
    chk.add_argument("file", type=Path)
    a.add_parser("show", help="the published policies")
    p.set_defaults(handler=_policy)
    _exception(sub.add_parser("exception", help="grant, revoke or list exceptions to policy rules"))
    p = sub.add_parser("alert", help="acknowledge, resolve or reopen an alert, with a note")
    p.add_argument("action", choices=["acknowledge", "resolve", "reopen"])
    p.add_argument("alert_id")
    p.add_argument("--by", required=True)
    p.add_argument("--note", default="")
    p.set_defaults(handler=_alert)


def _inventory(p: argparse.ArgumentParser) -> None:
    a = p.add_subparsers(dest="inventory_action", required=True)
    m = a.add_parser("add-model", help="publish a model entry")
    m.add_argument("id")
    for opt in ("name", "provider", "family", "version", "model-card", "lineage", "certification", "note"):
        m.add_argument(f"--{opt}", default="")
    m.add_argument("--status", choices=STATUSES, default="proposed")
    m.add_argument("--review-date", type=date.fromisoformat)
    m.add_argument("--by", required=True)
    u = a.add_parser("add-use-case", help="publish a use case (application) entry")
    u.add_argument("id")
    for opt in ("name", "owner-team", "accountable", "purpose", "category", "environment", "sensitivity", "note"):
        u.add_argument(f"--{opt}", default="")
    for opt in ("data-category", "control", "allowed-model"):
        u.add_argument(f"--{opt}", action="append", default=[])
    u.add_argument("--status", choices=STATUSES, default="approved")
    u.add_argument("--by", required=True)
    s = a.add_parser("set-status", help="move an entry along its lifecycle (model:<id> or use_case:<id>)")
    s.add_argument("key")
    s.add_argument("status", choices=STATUSES)
    s.add_argument("--by", required=True)
    s.add_argument("--note", default="")
    a.add_parser("list", help="the current inventory as JSON lines")
    i = a.add_parser("import", help="publish every entry of a YAML file")
    i.add_argument("file", type=Path)
    i.add_argument("--by", required=True)
    e = a.add_parser("export", help="the current inventory as YAML (stdout or a file)")
    e.add_argument("file", type=Path, nargs="?")
    p.set_defaults(handler=_inventory_cmd)


def _item_from(args: argparse.Namespace, kind: str) -> InventoryItem:
    common = dict(kind=kind, id=args.id, name=args.name, status=args.status, changed_by=args.by,
                  change_note=args.note)
    if kind == MODEL:
        return InventoryItem(**common, provider=args.provider, family=args.family, version=args.version,
                             model_card=args.model_card, lineage=args.lineage, certification=args.certification,
                             review_date=args.review_date)
    return InventoryItem(**common, owner_team=args.owner_team, accountable=args.accountable, purpose=args.purpose,
                         category=args.category, environment=args.environment, sensitivity=args.sensitivity,
                         data_categories=tuple(args.data_category), controls=tuple(args.control),
                         allowed_models=tuple(args.allowed_model))


def _inventory_cmd(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from .admin import GovernanceAdmin
    from .yaml_io import dump_inventory, parse_inventory

    with GovernanceAdmin() as admin:
        action = args.inventory_action
        if action in ("add-model", "add-use-case"):
            item = admin.put_item(_item_from(args, MODEL if action == "add-model" else USE_CASE))
            print(f"{item.key} published ({item.status})")
        elif action == "set-status":
            item = admin.set_status(args.key, args.status, args.by, args.note)
            print(f"{item.key} is now {item.status} (by {item.changed_by})")
        elif action == "list":
            for item in admin.items().values():
                print(json.dumps(asdict(item), default=str, sort_keys=True))
        elif action == "import":
            items = parse_inventory(args.file.read_text())
            for item in items:
                admin.put_item(replace(item, changed_by=item.changed_by or args.by))
            print(f"imported {len(items)} inventory entries")
        else:
            text = dump_inventory(admin.items().values())
            args.file.write_text(text) if args.file else sys.stdout.write(text)
    return 0


def _policy(args: argparse.Namespace) -> int:
    from .policy import parse_policy

    if args.policy_action == "check":
        policy = parse_policy(args.file.read_text())
        for r in policy.rules:
            print(f"{r.id}  [{r.severity}, {r.action}]  when {r.condition.text}")
        print(f"policy {policy.policy_id} v{policy.version}: {len(policy.rules)} rules compile")
        return 0
    from .admin import GovernanceAdmin

    with GovernanceAdmin() as admin:
        if args.policy_action == "load":
            policy = admin.load_policy(args.file.read_text(), args.by)
            print(f"policy {policy.policy_id} version {policy.version} published ({len(policy.rules)} rules)")
        else:
            for pid, p in admin.policies().items():
                print(f"# {pid} version {p['version']} by {p['updated_by']}\n{p['text']}")
    return 0


def _exception(p: argparse.ArgumentParser) -> None:
    a = p.add_subparsers(dest="exception_action", required=True)
    g = a.add_parser("grant", help="grant an exception to one rule")
    g.add_argument("rule_id")
    g.add_argument("--scope", action="append", default=[], metavar="FIELD=VALUE",
                   help="use_case, team, app, model, license_id, user_id or environment (all must match)")
    g.add_argument("--reason", required=True)
    g.add_argument("--approver", required=True)
    g.add_argument("--expires", required=True, help="ISO-8601 (UTC)")
    g.add_argument("--starts", help="ISO-8601 (UTC); default now")
    g.add_argument("--requested-by", default="")
    r = a.add_parser("revoke", help="end an exception now")
    r.add_argument("exception_id")
    r.add_argument("--by", required=True)
    r.add_argument("--note", default="")
    a.add_parser("list", help="every exception as JSON lines")
    p.set_defaults(handler=_exception_cmd)


def _exception_cmd(args: argparse.Namespace) -> int:
    from .admin import GovernanceAdmin
    from .exceptions import SCOPE_FIELDS

    with GovernanceAdmin() as admin:
        if args.exception_action == "grant":
            scope = dict(s.split("=", 1) for s in args.scope if "=" in s)
            bad = sorted(set(scope) - set(SCOPE_FIELDS))
            if bad or len(scope) != len(args.scope):
                raise GovernanceError(f"--scope takes FIELD=VALUE with FIELD one of {', '.join(SCOPE_FIELDS)}")
            e = admin.grant(args.rule_id, args.reason, args.approver, parse_time(args.expires), scope,
                            args.requested_by, parse_time(args.starts) if args.starts else None)
            print(f"exception {e.exception_id} granted for {e.rule_id}")
        elif args.exception_action == "revoke":
            print(f"exception {admin.revoke(args.exception_id, args.by, args.note).exception_id} revoked")
        else:
            for e in admin.exceptions().values():
                print(json.dumps(asdict(e), sort_keys=True))
    return 0


def _alert(args: argparse.Namespace) -> int:
    from .admin import GovernanceAdmin

    with GovernanceAdmin() as admin:
        admin.alert_action(args.alert_id, args.action, args.by, args.note)
    print(f"alert {args.alert_id}: {args.action} recorded")
    return 0

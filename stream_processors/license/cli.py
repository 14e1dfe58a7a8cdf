"""``meterstream license ...``: create, update, suspend, reactivate, revoke, delete and show licenses."""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timezone
from typing import Any

from ..errors import InvalidTermsError
from .releases import RULE_HELP
from .terms import DEFAULT_THRESHOLDS, LicenseTerms, QuotaTerm, grants, quota

QUOTA_HELP = ("metric:limit[:period[:hard|soft[:thresholds]]], e.g. input_tokens:1000000:month:hard:50,80,90,100; "
              "period is day, month or rolling:<seconds>")


def parse_quota(spec: str) -> QuotaTerm:
    parts = spec.split(":")
    if parts[2:3] == ["rolling"] and len(parts) > 3:  # rolling:<seconds> contains a colon
        parts[2:4] = [f"rolling:{parts[3]}"]
    if len(parts) < 2:
        raise InvalidTermsError("quotas", f"expected {QUOTA_HELP}, got {spec!r}")
    period = parts[2] if len(parts) > 2 and parts[2] else "month"
    hard = len(parts) > 3 and parts[3] == "hard"
    if len(parts) > 3 and parts[3] not in ("hard", "soft"):
        raise InvalidTermsError("quotas.hard", f"must be hard or soft, got {parts[3]!r}")
    thresholds = [int(t) for t in parts[4].split(",")] if len(parts) > 4 else list(DEFAULT_THRESHOLDS)
    return quota(parts[0], parts[1], period, hard, thresholds)


def parse_time(text: str) -> int:
    """ISO-8601 (UTC if no zone) -> microseconds since the epoch."""
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidTermsError("time", f"expected ISO-8601 like 2026-12-31T00:00:00Z, got {text!r}") from None
    dt = dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp() * 1_000_000)


def _terms_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("license_id")
    p.add_argument("--tier", help="free, pro, enterprise or a custom tier name")
    p.add_argument("--tenant")
    p.add_argument("--quota", action="append", help=QUOTA_HELP)
    p.add_argument("--model", action="append", help=f"allowed model, optionally =<rule>: {RULE_HELP}")
    p.add_argument("--hardware", action="append", help="allowed hardware id")
    p.add_argument("--max-hardware", type=int, help="most distinct hardware ids per UTC month")
    p.add_argument("--region", action="append", help="allowed region (data residency)")
    p.add_argument("--deny-region", action="append",
                   help="export control: region or region prefix (country) refused even if allowed")
    p.add_argument("--flag", action="append", help="tier flag name=true|false (watermark_required, priority, ...)")
    p.add_argument("--feature", action="append", help="enabled feature")
    p.add_argument("--not-before", help="ISO-8601 start of validity (UTC)")
    p.add_argument("--expires", help="ISO-8601 expiry (UTC)")


def register(sub: Any) -> None:
    p = sub.add_parser("license", help="create, update, suspend, revoke or show a license")
    actions = p.add_subparsers(dest="license_action", required=True)
    c = actions.add_parser("create", help="publish a new license (prints its key once)")
    _terms_options(c)
    c.add_argument("--key", help="license key to use (default: a random one); only its SHA-256 is stored")
    u = actions.add_parser("update", help="change some terms; given lists replace the current ones")
    _terms_options(u)
    r = actions.add_parser("rotate-key", help="accept a new key beside the current one (prints it once)")
    r.add_argument("license_id")
    r.add_argument("--key", help="the new key (default: a random one)")
    for name in ("retire-key", "suspend", "reactivate", "revoke", "delete", "show"):
        a = actions.add_parser(name, help=f"{name} a license")
        a.add_argument("license_id")
    p.set_defaults(handler=_license)


def changes_from(args: argparse.Namespace) -> dict[str, Any]:
    """LicenseTerms fields given on the command line."""
    out: dict[str, Any] = {}
    if args.tier:
        out["tier"] = args.tier
    if args.tenant is not None:
        out["tenant"] = args.tenant
    if args.quota:
        out["quotas"] = {q.metric: q for q in map(parse_quota, args.quota)}
    if args.model:
        out["models"] = grants(*args.model)
    if args.flag:
        out["flags"] = dict(_flag(f) for f in args.flag)
    for arg, name in (("hardware", "hardware_ids"), ("region", "regions"), ("feature", "features"),
                      ("deny_region", "export_denied")):
        if getattr(args, arg):
            out[name] = frozenset(getattr(args, arg))
    if args.max_hardware is not None:
        out["max_hardware"] = args.max_hardware
    if args.not_before:
        out["not_before_us"] = parse_time(args.not_before)
    if args.expires:
        out["expires_us"] = parse_time(args.expires)
    return out


def _flag(spec: str) -> tuple[str, bool]:
    name, _, value = spec.partition("=")
    if not name or value.lower() not in ("true", "false", ""):
        raise InvalidTermsError("flags", f"expected name=true|false, got {spec!r}")
    return name, value.lower() != "false"


def describe(terms: LicenseTerms) -> str:
    record = terms.to_record()
    return json.dumps(record, default=str, indent=2, sort_keys=True)


def _license(args: argparse.Namespace) -> int:
    from ..settings import ProcessorSettings
    from .admin import LicenseAdmin
    from .tiers import apply_tier, load_tiers

    with LicenseAdmin() as admin:
        action, lid = args.license_action, args.license_id
        if action == "create":
            changes = changes_from(args)
            fields = apply_tier(load_tiers(ProcessorSettings().processor_tiers_file), args.tier, changes) \
                if args.tier else changes
            terms, key = admin.create(LicenseTerms(license_id=lid, **fields), key=args.key)
            print(describe(terms))
            print(f"license key (shown once, stored only as its SHA-256): {key}")
        elif action == "rotate-key":
            terms, key = admin.rotate_key(lid, args.key)
            print(describe(terms))
            print(f"new license key (shown once; the previous key works until `retire-key`): {key}")
        elif action == "retire-key":
            print(describe(admin.retire_key(lid)))
        elif action == "update":
            print(describe(admin.update(lid, **changes_from(args))))
        elif action == "delete":
            admin.delete(lid)
            print(f"license {lid} deleted")
        elif action == "show":
            print(describe(admin.get(lid)))
        else:
            print(describe(getattr(admin, action)(lid)))
    return 0

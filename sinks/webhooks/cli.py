"""``meterstream webhook ...``: manage endpoints and run the dispatcher.

Secrets are shown once, when created (``add``, ``rotate-secret``); ``list``
never prints them.
"""

from __future__ import annotations

import argparse
import json
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("webhook", help="alert webhooks: endpoints and the dispatcher")
    wsub = p.add_subparsers(dest="webhook_command", required=True)
    _endpoint_commands(wsub)

    d = wsub.add_parser("dispatch", help="run a webhook dispatcher")
    d.set_defaults(handler=_dispatch)

    c = wsub.add_parser("check-config", help="validate the dispatcher's settings and print them (secrets masked)")
    c.set_defaults(handler=_check_config)

    g = wsub.add_parser("gen-master-key", help="print a new master key for METERSTREAM_WEBHOOK_MASTER_KEY")
    g.set_defaults(handler=_gen_master_key)


def _endpoint_commands(wsub: Any) -> None:
    a = wsub.add_parser("add", help="add an endpoint; prints its id and signing secret (shown once)")
    a.add_argument("url")
    a.add_argument("--license", action="append", default=[], dest="licenses", help="only this license (repeat)")
    a.add_argument("--tenant", action="append", default=[], dest="tenants", help="only this tenant (repeat)")
    a.add_argument("--kind", action="append", default=[], dest="kinds", help="only this alert kind (repeat)")
    a.add_argument("--description", default="")
    a.set_defaults(handler=_run, action="add")

    ls = wsub.add_parser("list", help="list endpoints (never prints secrets)")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(handler=_run, action="list")

    r = wsub.add_parser("rotate-secret", help="new signing secret (shown once); the old one keeps signing for a while")
    r.add_argument("endpoint_id")
    r.add_argument("--keep-old-for", type=float, default=86400.0, metavar="SECONDS",
                   help="how long the previous secrets keep signing too (default one day; 0 = stop now)")
    r.set_defaults(handler=_run, action="rotate")

    for name, doc in (("disable", "stop delivering to an endpoint"), ("enable", "resume delivering"),
                      ("remove", "delete an endpoint"), ("test", "send one signed webhook.test request now")):
        c = wsub.add_parser(name, help=doc)
        c.add_argument("endpoint_id")
        c.set_defaults(handler=_run, action=name)


def _run(args: argparse.Namespace) -> int:
    from .admin import EndpointAdmin
    from .settings import WebhookSettings

    admin = EndpointAdmin(WebhookSettings())
    try:
        return _act(admin, args)
    finally:
        admin.close()


def _act(admin: Any, args: argparse.Namespace) -> int:
    if args.action == "add":
        ep, secret = admin.add(args.url, args.licenses, args.tenants, args.kinds, args.description)
        print(f"endpoint {ep.endpoint_id} -> {ep.url}")
        print(f"signing secret (shown only now, store it in the receiver): {secret}")
    elif args.action == "list":
        rows = admin.list()
        print(json.dumps(rows, indent=2) if args.json else "\n".join(_line(r) for r in rows) or "no endpoints")
    elif args.action == "rotate":
        secret = admin.rotate(args.endpoint_id, args.keep_old_for)
        print(f"new signing secret for {args.endpoint_id} (shown only now): {secret}")
    elif args.action == "test":
        status, latency_ms, error = admin.test(args.endpoint_id)
        print(f"{args.endpoint_id}: HTTP {status or '-'} in {latency_ms:.1f} ms{f' ({error})' if error else ''}")
        return 0 if status is not None and 200 <= status < 300 else 1
    else:
        getattr(admin, args.action)(args.endpoint_id)
        print(f"{args.endpoint_id}: {args.action}d")
    return 0


def _line(r: dict[str, Any]) -> str:
    state = "enabled" if r["enabled"] else f"DISABLED ({r['disabled_reason'] or 'by operator'})"
    filters = " ".join(f"{k}={','.join(r[k])}" for k in ("license_ids", "tenants", "kinds") if r[k]) or "all alerts"
    return f"{r['endpoint_id']}  {r['url']}  {state}  {filters}  secrets={r['live_secrets']}"


def _dispatch(args: argparse.Namespace) -> int:
    import signal
    import threading

    from .dispatcher import Dispatcher
    from .settings import WebhookSettings

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    Dispatcher(WebhookSettings()).run(stop)
    return 0


def _check_config(args: argparse.Namespace) -> int:
    import sys

    from pydantic import SecretStr, ValidationError

    from .secret_box import SecretBox
    from .settings import WebhookSettings

    try:
        settings = WebhookSettings()
    except ValidationError as exc:
        print(f"invalid webhook configuration:\n{exc}", file=sys.stderr)
        return 2
    SecretBox(settings.webhook_master_key)  # raises MasterKeyError naming the setting
    for key in type(settings).model_fields:
        value = getattr(settings, key)
        print(f"  {key} = {'**********' if isinstance(value, SecretStr) else value}")
    return 0


def _gen_master_key(args: argparse.Namespace) -> int:
    from .secret_box import generate_master_key

    print(generate_master_key())
    return 0

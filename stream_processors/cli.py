"""Stream-processor subcommands: ``meterstream processor``, ``license``, ``model``, and the governance
commands ``inventory``, ``policy``, ``exception`` and ``alert``."""

from __future__ import annotations

import argparse
from typing import Any

from .governance import cli as governance_cli
from .license import catalog_admin
from .license import cli as license_cli


def register(sub: Any) -> None:
    p = sub.add_parser("processor", help="run a Faust stream-processor worker")
    p.add_argument("--web-port", type=int, default=None, help="port of the quota HTTP views")
    p.set_defaults(handler=_processor)
    license_cli.register(sub)
    catalog_admin.register(sub)
    governance_cli.register(sub)


def _processor(args: argparse.Namespace) -> int:
    from .app import run_worker
    from .settings import ProcessorSettings

    overrides = {"processor_web_port": args.web_port} if args.web_port else {}
    run_worker(ProcessorSettings(**overrides))
    return 0

"""The ``meterstream`` command: run the pieces of the pipeline and operate them.

Each subcommand imports what it needs when it runs, so the producer-only
install still has a working ``meterstream`` for ``check-config`` and ``generate``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from types import ModuleType
from typing import Callable

from .errors import MeterstreamError

Handler = Callable[[argparse.Namespace], int]


# Each package adds its own subcommands through a ``register(subparsers)`` function;
# a module whose dependencies are not installed (producer-only install) is left out.
COMMAND_MODULES = [
    "meterstream.commands",
    "meterstream.producers.cli",
    "meterstream.stream_processors.cli",
    "meterstream.sinks.cli",
    "meterstream.sinks.webhooks.cli",
]
PIPELINE_DEPS = {"faust", "clickhouse_connect", "aiohttp", "mode", "cryptography"}


def optional_module(name: str) -> ModuleType | None:
    """Import ``name``; None when it or a pipeline dependency is not installed (producer-only install).

    Any other missing module is a real bug and is raised.
    """
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if name == missing or name.startswith(missing + ".") or missing.split(".")[0] in PIPELINE_DEPS:
            return None
        raise


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="meterstream", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        module = optional_module(name)
        if module is not None:
            module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    handler: Handler = args.handler
    try:
        return handler(args)
    except MeterstreamError as exc:
        print(f"meterstream: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

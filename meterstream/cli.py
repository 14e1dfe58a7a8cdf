"""The ``meterstream`` command: run the pieces of the pipeline and operate them.

Each subcommand imports what it needs when it runs, so the producer-only
install still has a working ``meterstream`` for ``check-config`` and ``generate``;
a subcommand that needs the pipeline extra is still listed there, and when run
says what to install instead of failing with a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import sys
from types import ModuleType
from typing import Any, Callable

from .errors import MeterstreamError

Handler = Callable[[argparse.Namespace], int]

PIPELINE_EXTRA = "pip install 'meterstream[pipeline]'"
PIPELINE_DEPS = {"faust", "mode", "clickhouse_connect", "chdb", "aiohttp", "cryptography", "cramjam", "matplotlib",
                 "rich", "yaml"}
# Other extras: the top-level module a subcommand may miss -> the extra that brings it.
EXTRA_OF = {**{name: "pipeline" for name in PIPELINE_DEPS}, "opentelemetry": "otlp", "google": "otlp"}

# Each package adds its own subcommands through a ``register(subparsers)`` function.
# Their names are written here too only so that, should a module fail to import on the
# producer-only install, its subcommands are still recognised and say which extra they
# need (tests/packaging/test_cli_extras.py keeps the names in step with register()).
COMMAND_MODULES: dict[str, tuple[str, ...]] = {
    "meterstream.commands": ("kafka", "topics", "demo", "check-config"),
    "meterstream.producers.cli": ("generate", "spool"),
    "meterstream.producers.otlp.cli": ("otlp",),
    "meterstream.producers.protect.cli": ("protect",),
    "meterstream.stream_processors.cli": ("processor", "license", "model", "inventory", "policy", "exception",
                                          "alert"),
    "meterstream.sinks.cli": ("sink", "sql", "prices", "budgets"),
    "meterstream.sinks.reports.cli": ("report", "dashboard"),
    "meterstream.sinks.webhooks.cli": ("webhook",),
    "meterstream.sinks.evidence.cli": ("evidence",),
}


def is_missing_pipeline_dep(exc: ModuleNotFoundError) -> bool:
    """True if ``exc`` is about a dependency that only an extra (pipeline, otlp) installs."""
    return (exc.name or "").split(".")[0] in EXTRA_OF


def pipeline_installed() -> bool:
    """True if the pipeline extra's packages are importable (checked without importing them)."""
    return all(_importable(name) for name in ("faust", "clickhouse_connect", "aiohttp", "cryptography"))


def _importable(name: str) -> bool:
    # Faust replaces its module in sys.modules by a lazy one without __spec__, so once it is
    # imported find_spec raises ValueError: an imported module is importable.
    if sys.modules.get(name) is not None:
        return True
    return importlib.util.find_spec(name) is not None


def optional_module(name: str) -> ModuleType | None:
    """Import ``name``; None when it or a pipeline dependency is not installed (producer-only install).

    Any other missing module is a real bug and is raised.
    """
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if name == missing or name.startswith(missing + ".") or is_missing_pipeline_dep(exc):
            return None
        raise


def _needs_pipeline(args: argparse.Namespace) -> int:
    """What a subcommand does when the pipeline extra it needs is not installed."""
    missing = getattr(args, "missing_module", None) or "a pipeline dependency"
    extra = EXTRA_OF.get(missing.split(".")[0], "pipeline")
    install = PIPELINE_EXTRA if extra == "pipeline" else f"pip install 'meterstream[{extra}]'"
    print(f"meterstream {args.command}: needs the {extra} extra ({missing} is not installed); "
          f"install it with: {install}", file=sys.stderr)
    return 2


def _stand_in(sub: Any, name: str) -> None:
    """Recognise ``name`` although its module could not be imported, so it can say what to install."""
    text = f"needs the pipeline extra: {PIPELINE_EXTRA}"
    p = sub.add_parser(name, help=f"({text})", description=f"meterstream {name} {text}",
                       formatter_class=argparse.RawDescriptionHelpFormatter)  # keeps the command on one line
    p.set_defaults(handler=_needs_pipeline, accepts_any_args=True)


def build_parser() -> argparse.ArgumentParser:
    epilog = None if pipeline_installed() else (
        "The pipeline extra is not installed: commands that run processors, sinks,\n"
        f"webhooks or the demo say so when run. Install it with:\n  {PIPELINE_EXTRA}")
    parser = argparse.ArgumentParser(prog="meterstream", description=__doc__.splitlines()[0], epilog=epilog,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, commands in COMMAND_MODULES.items():
        module = optional_module(name)
        if module is not None:
            module.register(sub)
        else:
            for command in commands:
                _stand_in(sub, command)
    return parser


def parse_args(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """``parser.parse_args``, except that a stand-in subcommand takes any arguments it is given."""
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "accepts_any_args", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(build_parser(), argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    handler: Handler = args.handler
    try:
        return handler(args)
    except MeterstreamError as exc:
        print(f"meterstream: {exc}", file=sys.stderr)
        return 1
    except ModuleNotFoundError as exc:  # a subcommand that needs the pipeline extra, on the base install
        if not is_missing_pipeline_dep(exc):
            raise
        args.missing_module = exc.name
        return _needs_pipeline(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

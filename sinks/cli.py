"""Sink subcommands: ``meterstream sink``."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("sink", help="run the ClickHouse sink")
    p.set_defaults(handler=_sink)


def _sink(args: argparse.Namespace) -> int:
    import signal
    import threading

    from .settings import SinkSettings
    from .usage_sink import UsageSink

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    UsageSink(SinkSettings()).run(stop)
    return 0

"""Producer-side subcommands: ``meterstream generate``."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("generate", help="send generated usage traffic through the producer library")
    p.add_argument("--events", type=int, default=10_000)
    p.add_argument("--licenses", type=int, default=50)
    p.add_argument("--rate", type=float, default=0.0, help="events per second (0: as fast as possible)")
    p.add_argument("--seed", type=int, default=7)
    p.set_defaults(handler=_generate)


def _generate(args: argparse.Namespace) -> int:
    import time

    from .meter import Meter
    from .traffic import generate

    started = time.monotonic()
    with Meter() as meter:
        totals = generate(meter, args.events, args.licenses, seed=args.seed, rate=args.rate)
        meter.flush()
    took = time.monotonic() - started
    print(f"sent {sum(totals.events.values())} events for {len(totals.events)} licenses in {took:.2f}s")
    return 0

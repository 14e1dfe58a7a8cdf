"""Producer-side subcommands: ``meterstream generate`` and ``meterstream spool``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("generate", help="send generated usage traffic through the producer library")
    p.add_argument("--events", type=int, default=10_000)
    p.add_argument("--licenses", type=int, default=50)
    p.add_argument("--rate", type=float, default=0.0, help="events per second (0: as fast as possible)")
    p.add_argument("--seed", type=int, default=7)
    p.set_defaults(handler=_generate)

    p = sub.add_parser("spool", help="inspect a producer spool directory, or replay it to Kafka")
    p.add_argument("directory", type=Path)
    p.add_argument("--replay", action="store_true", help="send its records to Kafka and wait for the acks")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for Kafka when replaying")
    p.set_defaults(handler=_spool)


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


def _spool(args: argparse.Namespace) -> int:
    """Report what a spool holds (records, bytes, damaged records); with --replay, deliver it."""
    from .errors import ProducerError
    from .meter import Meter
    from .spool import Spool

    if not args.replay:
        spool = Spool(args.directory, max_bytes=1 << 62, segment_bytes=1 << 30, fsync=False)
        print(f"{args.directory}: {spool.pending()} records awaiting Kafka, {spool.total_bytes} bytes, "
              f"{spool.stats.corrupt_records} damaged records skipped")
        spool.close()
        return 0
    meter = Meter(spool_dir=args.directory)
    pending = meter.spool.pending()
    try:
        _flush_with_progress(meter, pending, args.timeout)
    except ProducerError as exc:
        print(f"replay incomplete: {exc}")
        return 1
    finally:
        meter.close(timeout=5)
    print(f"replayed {pending} records from {args.directory}")
    return 0


def _flush_with_progress(meter: Any, pending: int, timeout: float) -> None:
    """``meter.flush`` on a thread while a bar follows the spool draining (drawn only on a terminal)."""
    import threading

    from meterstream.progress import bar

    failure: list[BaseException] = []

    def flush() -> None:
        try:
            meter.flush(timeout)
        except BaseException as exc:  # noqa: BLE001 - re-raised on the calling thread
            failure.append(exc)

    worker = threading.Thread(target=flush, name="spool-replay")
    with bar("replaying the spool", pending) as advance:
        worker.start()
        done = 0
        while worker.is_alive():
            worker.join(0.2)
            now = max(0, pending - meter.spool.pending())
            advance(now - done)
            done = now
    if failure:
        raise failure[0]

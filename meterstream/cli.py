"""The ``meterstream`` command: run the pieces of the pipeline and operate them.

Each subcommand imports what it needs when it runs, so the producer-only
install still has a working ``meterstream`` for ``check-config`` and ``generate``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Callable

from .errors import MeterstreamError

Handler = Callable[[argparse.Namespace], int]


def _kafka(args: argparse.Namespace) -> int:
    from meterstream.infra.kafka import LocalKafka

    broker = LocalKafka(port=args.port, controller_port=args.controller_port)
    if args.action == "fetch":
        print(broker.fetch())
    elif args.action == "start":
        broker.start()
        print(f"kafka running at {broker.bootstrap_servers} (logs: {broker.log_file})")
    elif args.action == "stop":
        broker.stop()
        print("kafka stopped")
    else:
        running = broker.is_running()
        print(f"kafka at {broker.bootstrap_servers}: {'running' if running else 'stopped'}")
        return 0 if running else 1
    return 0


def _topics(args: argparse.Namespace) -> int:
    from .config import KafkaSettings, Topics
    from .topics import ensure_topics

    created = ensure_topics(KafkaSettings(), Topics())
    print("created: " + (", ".join(created) if created else "nothing (all exist)"))
    return 0


def _processor(args: argparse.Namespace) -> int:
    from meterstream.stream_processors.app import run_worker
    from meterstream.stream_processors.settings import ProcessorSettings

    overrides = {"processor_web_port": args.web_port} if args.web_port else {}
    run_worker(ProcessorSettings(**overrides))
    return 0


def _sink(args: argparse.Namespace) -> int:
    import signal
    import threading

    from meterstream.sinks.settings import SinkSettings
    from meterstream.sinks.usage_sink import UsageSink

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    UsageSink(SinkSettings()).run(stop)
    return 0


def _generate(args: argparse.Namespace) -> int:
    import time

    from meterstream.producers import Meter
    from meterstream.producers.traffic import generate

    started = time.monotonic()
    with Meter() as meter:
        totals = generate(meter, args.events, args.licenses, seed=args.seed, rate=args.rate)
        meter.flush()
    took = time.monotonic() - started
    print(f"sent {sum(totals.events.values())} events for {len(totals.events)} licenses in {took:.2f}s")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(events=args.events, licenses=args.licenses, keep_running=args.keep_running)


def _check_config(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from meterstream.producers.settings import ProducerSettings

    classes = {"producer": ProducerSettings}
    try:
        from meterstream.sinks.settings import SinkSettings
        from meterstream.stream_processors.settings import ProcessorSettings

        classes.update(processor=ProcessorSettings, sink=SinkSettings)
    except ImportError:
        pass  # producer-only install
    try:
        for name, cls in classes.items():
            settings = cls()
            print(f"[{name}]")
            for key, value in settings.model_dump().items():
                print(f"  {key} = {'**********' if 'password' in key or 'secret' in key else value}")
    except ValidationError as exc:
        print(f"invalid configuration:\n{exc}", file=sys.stderr)
        return 2
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="meterstream", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("kafka", help="fetch, start, stop or check the local development broker")
    p.add_argument("action", choices=["fetch", "start", "stop", "status"])
    p.add_argument("--port", type=int, default=9092)
    p.add_argument("--controller-port", type=int, default=9093)
    p.set_defaults(handler=_kafka)

    p = sub.add_parser("topics", help="create meterstream's topics if missing")
    p.set_defaults(handler=_topics)

    p = sub.add_parser("processor", help="run a Faust stream-processor worker")
    p.add_argument("--web-port", type=int, default=None, help="port of the quota HTTP views")
    p.set_defaults(handler=_processor)

    p = sub.add_parser("sink", help="run the ClickHouse sink")
    p.set_defaults(handler=_sink)

    p = sub.add_parser("generate", help="send generated usage traffic through the producer library")
    p.add_argument("--events", type=int, default=10_000)
    p.add_argument("--licenses", type=int, default=50)
    p.add_argument("--rate", type=float, default=0.0, help="events per second (0: as fast as possible)")
    p.add_argument("--seed", type=int, default=7)
    p.set_defaults(handler=_generate)

    p = sub.add_parser("demo", help="run the whole pipeline locally with generated traffic")
    p.add_argument("--events", type=int, default=10_000)
    p.add_argument("--licenses", type=int, default=50)
    p.add_argument("--keep-running", action="store_true", help="leave the broker running afterwards")
    p.set_defaults(handler=_demo)

    p = sub.add_parser("check-config", help="validate the settings from the environment and print them")
    p.set_defaults(handler=_check_config)
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

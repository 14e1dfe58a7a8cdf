"""``python -m meterstream.infra.kafka {fetch|start|stop|status}``: manage the local broker."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .broker import KafkaStartError, LocalKafka, kafka_version


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="python -m meterstream.infra.kafka",
                                     description="Manage a local single-node Kafka broker.")
    parser.add_argument("command", choices=["fetch", "start", "stop", "status"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9092)
    parser.add_argument("--controller-port", type=int, default=9093)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=90.0)
    args = parser.parse_args(argv)
    kafka = LocalKafka(host=args.host, port=args.port, controller_port=args.controller_port,
                       data_dir=args.data_dir, partitions=args.partitions)
    t0 = time.monotonic()
    try:
        if args.command == "fetch":
            lib = kafka.fetch()
            print(f"kafka {kafka_version()} jars in {lib} ({time.monotonic() - t0:.1f}s)")
        elif args.command == "start":
            kafka.start(timeout=args.timeout)
            print(f"kafka {kafka_version()} ready on {kafka.bootstrap_servers} "
                  f"({time.monotonic() - t0:.1f}s; data {kafka.data_dir}, log {kafka.log_file})")
        elif args.command == "stop":
            kafka.stop(timeout=args.timeout)
            print(f"kafka on {kafka.bootstrap_servers} stopped ({time.monotonic() - t0:.1f}s)")
        else:
            running = kafka.is_running()
            print(f"kafka on {kafka.bootstrap_servers}: {'running' if running else 'stopped'}"
                  f" (data {kafka.data_dir})")
            return 0 if running else 3
    except KafkaStartError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Core subcommands: the local broker, topics, the demo, and configuration checks."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("kafka", help="fetch, start, stop or check the local development broker")
    p.add_argument("action", choices=["fetch", "start", "stop", "status"])
    p.add_argument("--port", type=int, default=9092)
    p.add_argument("--controller-port", type=int, default=9093)
    p.set_defaults(handler=_kafka)

    p = sub.add_parser("topics", help="create meterstream's topics (pipeline and webhooks) if missing")
    p.set_defaults(handler=_topics)

    p = sub.add_parser("demo", help="run the whole pipeline locally with generated traffic")
    p.add_argument("--events", type=int, default=10_000)
    p.add_argument("--licenses", type=int, default=50)
    p.add_argument("--keep-running", action="store_true", help="leave the broker running afterwards")
    p.set_defaults(handler=_demo)

    p = sub.add_parser("check-config", help="validate the settings from the environment and print them")
    p.set_defaults(handler=_check_config)


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
    from .kafka.topics import ensure_topics, governance_topics, pipeline_topics, webhook_topics

    topics = Topics()
    created = ensure_topics(KafkaSettings(),
                            pipeline_topics(topics) + governance_topics(topics) + webhook_topics(topics))
    print("created: " + (", ".join(created) if created else "nothing (all exist)"))
    return 0


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(events=args.events, licenses=args.licenses, keep_running=args.keep_running)


SETTINGS_CLASSES = {
    "producer": "meterstream.producers.settings:ProducerSettings",
    "processor": "meterstream.stream_processors.settings:ProcessorSettings",
    "sink": "meterstream.sinks.settings:SinkSettings",
    "webhook": "meterstream.sinks.webhooks.settings:WebhookSettings",
    "report": "meterstream.sinks.reports.settings:ReportSettings",
}


def _check_config(args: argparse.Namespace) -> int:
    from pydantic import SecretStr, ValidationError

    from .cli import optional_module

    for name, path in SETTINGS_CLASSES.items():
        module_name, _, cls = path.partition(":")
        module = optional_module(module_name)
        if module is None:
            continue  # producer-only install
        settings_cls = getattr(module, cls)
        try:
            settings = settings_cls()
        except ValidationError as exc:
            print(f"invalid {name} configuration:\n{exc}", file=sys.stderr)
            return 2
        print(f"[{name}]")
        for key in type(settings).model_fields:
            value = getattr(settings, key)
            print(f"  {key} = {'**********' if isinstance(value, SecretStr) else value}")
    return 0

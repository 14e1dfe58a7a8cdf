"""Publish and read the model-release catalog (``meterstream model release|withdraw|list``).

The catalog is the compacted topic ``<prefix>model.releases`` (one partition,
key ``model@version``). Workers follow it (``key_index.Follower``) and judge
``latest`` and ``maintenance`` rules against it; the sink keeps its history.
"""

from __future__ import annotations

import argparse
from typing import Any

from meterstream.clock import from_micros, now_us
from meterstream.config import KafkaSettings, Topics
from meterstream.kafka import clients
from meterstream.kafka.compacted import read_to_end
from meterstream.kafka.topics import ensure_topics, pipeline_topics
from meterstream.schemas import RecordCodec

from ..errors import ProcessorError
from .cli import parse_time
from .releases import Release, ReleaseCatalog


class CatalogAdmin:
    """Python API behind ``meterstream model ...``."""

    def __init__(self, kafka: KafkaSettings | None = None, topics: Topics | None = None, timeout: float = 30.0) -> None:
        self.kafka, self.topics, self.timeout = kafka or KafkaSettings(), topics or Topics(), timeout
        self.codec = RecordCodec("model_release")

    def release(self, model: str, version: str, released_us: int | None = None) -> Release:
        """Publish a release (now unless ``released_us`` says when it was published)."""
        return self._publish(Release(model, version, now_us() if released_us is None else released_us))

    def withdraw(self, model: str, version: str) -> Release:
        """Mark a published release withdrawn: no version rule allows it any more."""
        found = self.catalog().get(model, version)
        if found is None:
            raise ProcessorError(f"no release {model}@{version} in {self.topics.model_releases}")
        return self._publish(Release(model, version, found.released_us, withdrawn=True))

    def catalog(self) -> ReleaseCatalog:
        ensure_topics(self.kafka, [s for s in pipeline_topics(self.topics) if s.name == self.topics.model_releases])
        out = ReleaseCatalog()
        for msg in read_to_end(self.kafka, self.topics.model_releases, timeout=self.timeout):
            if msg.value() is None:
                out.forget(msg.key() or b"")
            else:
                out.put(Release.from_record(self.codec.decode(msg.value() or b"")))
        return out

    def _publish(self, release: Release) -> Release:
        ensure_topics(self.kafka, [s for s in pipeline_topics(self.topics) if s.name == self.topics.model_releases])
        errors: list[Any] = []
        producer = clients.producer(self.kafka)
        producer.produce(self.topics.model_releases, self.codec.encode(release.to_record()), release.key,
                         on_delivery=lambda err, msg: errors.append(err) if err else None)
        if producer.flush(self.timeout) or errors:
            raise ProcessorError(f"release {release.model}@{release.version} not acknowledged: {errors or 'timeout'}")
        return release


def register(sub: Any) -> None:
    p = sub.add_parser("model", help="publish, withdraw or list model releases (the version-rule catalog)")
    actions = p.add_subparsers(dest="model_action", required=True)
    r = actions.add_parser("release", help="publish a release of a model")
    r.add_argument("model")
    r.add_argument("version")
    r.add_argument("--released-at", help="ISO-8601 publication time (default: now)")
    w = actions.add_parser("withdraw", help="withdraw a release: no rule allows it any more")
    w.add_argument("model")
    w.add_argument("version")
    ls = actions.add_parser("list", help="every release, oldest first per model")
    ls.add_argument("model", nargs="?")
    p.set_defaults(handler=_model)


def _model(args: argparse.Namespace) -> int:
    admin = CatalogAdmin()
    if args.model_action == "release":
        when = parse_time(args.released_at) if args.released_at else None
        r = admin.release(args.model, args.version, when)
        print(f"released {r.model}@{r.version} at {from_micros(r.released_us).isoformat()}")
    elif args.model_action == "withdraw":
        r = admin.withdraw(args.model, args.version)
        print(f"withdrew {r.model}@{r.version}")
    else:
        catalog = admin.catalog()
        for model in [args.model] if args.model else catalog.models():
            for r in catalog.releases(model):
                state = "withdrawn" if r.withdrawn else "published"
                print(f"{r.model}\t{r.version}\t{from_micros(r.released_us).isoformat()}\t{state}")
    return 0

"""Helpers of the producer tests: meters bound to this test's topics, reading back what landed."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from confluent_kafka import Consumer

from meterstream.producers import Meter
from meterstream.schemas import BatchCodec


@pytest.fixture
def offline_meter(tmp_path: Path) -> Iterator[Callable[..., Meter]]:
    """Meters pointed at a port where no broker listens: for validation tests (nothing is sent)."""
    made: list[Meter] = []

    def make(**kw: Any) -> Meter:
        kw.setdefault("linger_ms", 60_000)  # keep what was accepted in memory, where buffered() sees it
        m = Meter(kafka_bootstrap_servers="127.0.0.1:1", spool_dir=tmp_path / f"spool{len(made)}", **kw)
        made.append(m)
        return m
    yield make
    for m in made:
        m.close(timeout=0.5)


@pytest.fixture
def make_meter(kafka_bootstrap: str, topics: Any, tmp_path: Path) -> Iterator[Callable[..., Meter]]:
    """Meters on this test's topics and a spool under tmp_path; closed after the test."""
    made: list[Meter] = []

    def make(**kw: Any) -> Meter:
        kw.setdefault("spool_dir", tmp_path / "spool")
        kw.setdefault("model", "llama-3")
        m = Meter(kafka_bootstrap_servers=kafka_bootstrap, topic_prefix=topics.topic_prefix,
                  linger_ms=20, **kw)
        made.append(m)
        return m
    yield make
    for m in made:
        m.close(timeout=5)


def read_events(bootstrap: str, topic: str, until: Callable[[list[dict[str, Any]]], bool],
                timeout: float = 60.0) -> list[dict[str, Any]]:
    """Every event in ``topic`` (one dict per event, duplicates kept) once ``until(events)`` holds."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"read-{time.time_ns()}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    codec = BatchCodec()
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            for msg in consumer.consume(1000, 0.5):
                if msg.error() is None:
                    events.extend(codec.decode(msg.value()).rows())
            if until(events):
                time.sleep(1.0)  # and anything that would be an extra copy
                for msg in consumer.consume(10_000, 1.0):
                    if msg.error() is None:
                        events.extend(codec.decode(msg.value()).rows())
                return events
    finally:
        consumer.close()
    raise AssertionError(f"timed out after {timeout}s with {len(events)} events in {topic}")


def distinct_ids(events: list[dict[str, Any]]) -> set[str]:
    return {e["event_id"] for e in events}

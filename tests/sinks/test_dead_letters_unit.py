"""Dead letters the broker refuses are produced again by the retried flush; the batch is not committed past them."""

from __future__ import annotations

from typing import Any

import pytest

from meterstream.sinks.dead_letters import DeadLetters
from meterstream.sinks.errors import SinkError
from tests.sinks.conftest import Msg


class Producer:
    """Refuses every record of the first ``refuse`` flushes (the delivery callback carries the error)."""

    def __init__(self, refuse: int) -> None:
        self.refuse, self.queued, self.delivered = refuse, [], []

    def produce(self, topic: str, value: bytes, key: Any, headers: Any, on_delivery: Any) -> None:
        self.queued.append((value, on_delivery))

    def flush(self, timeout: float) -> int:
        for value, cb in self.queued:
            if self.refuse:
                cb("MSG_SIZE_TOO_LARGE", None)
            else:
                self.delivered.append(value)
                cb(None, None)
        self.queued = []
        self.refuse = max(0, self.refuse - 1)
        return 0


class Client:
    def __init__(self) -> None:
        self.rows: list[Any] = []

    def insert(self, table: str, rows: list[Any], column_names: list[str]) -> None:
        self.rows += rows


def test_a_refused_dead_letter_fails_the_flush_and_is_produced_again() -> None:
    producer, client = Producer(refuse=1), Client()
    dead = DeadLetters(client, producer, "t.dlq")  # type: ignore[arg-type]
    dead.add(Msg(b"bad-1", 1), "cannot read")  # type: ignore[arg-type]
    dead.add(Msg(b"bad-2", 2), "cannot read")  # type: ignore[arg-type]
    with pytest.raises(SinkError, match="refused 2"):
        dead.flush()
    assert producer.delivered == [] and client.rows == []
    dead.flush()
    assert producer.delivered == [b"bad-1", b"bad-2"] and len(client.rows) == 2 and dead.total == 2

"""Dead letters: a message a sink cannot use goes to a topic and to the ``dead_letters`` table, with the reason.

Both are written before the offsets of the batch are committed, so a dead
letter is never lost; the sink itself never stops on bad input. The topic
record keeps the original key and value, with the headers of
``meterstream.kafka.dead_letters`` (``reason``, ``source``).
"""

from __future__ import annotations

import base64
import logging
from typing import Any, Callable

from clickhouse_connect.driver.client import Client
from confluent_kafka import Message, Producer

from meterstream.kafka import dead_letters

from .errors import SinkError

log = logging.getLogger(__name__)
COLUMNS = ["topic", "partition", "offset", "key", "value_b64", "reason"]


class DeadLetters:
    """Collects the dead letters of one batch; ``flush()`` makes them durable in the topic and the table.

    Topic records are produced at ``flush()`` with a delivery callback: one the broker refused is kept
    and produced again by the retried flush, so the batch's offsets are never committed past a dead
    letter that is not in the topic.
    """

    def __init__(self, client: Client, producer: Producer | None, topic: str | None) -> None:
        self.client = client
        self.producer = producer if topic else None
        self.topic = topic
        self.rows: list[list[Any]] = []
        self.unsent: list[tuple[bytes, bytes | None, dict[str, Any]]] = []
        self.total = 0

    def add(self, msg: Message, reason: str) -> None:
        value = msg.value() or b""
        key = msg.key()
        log.warning("dead-lettering %s[%d]@%d: %s", msg.topic(), msg.partition(), msg.offset(), reason)
        self.rows.append([msg.topic(), msg.partition(), msg.offset(),
                          key.decode("utf-8", "replace") if key is not None else None,
                          base64.b64encode(value).decode(), reason])
        if self.producer is not None:
            self.unsent.append((value, key, dead_letters.headers(reason, msg.topic(), msg.partition(),
                                                                 msg.offset())))

    def flush(self) -> None:
        """Write the collected dead letters; raise SinkError so the batch is retried if that fails."""
        self._produce()
        if not self.rows:
            return
        try:
            self.client.insert("dead_letters", self.rows, column_names=COLUMNS)
        except Exception as exc:
            raise SinkError(f"writing {len(self.rows)} dead letters failed: {exc}") from exc
        self.total += len(self.rows)
        self.rows = []

    def _produce(self) -> None:
        """Produce the unsent records and wait for the broker; keep the ones it did not take."""
        if self.producer is None or self.topic is None or not self.unsent:
            return
        refused: list[tuple[tuple[bytes, bytes | None, dict[str, Any]], Any]] = []

        def on_delivery(rec: tuple[bytes, bytes | None, dict[str, Any]]) -> Callable[[Any, Any], None]:
            return lambda err, _msg: refused.append((rec, err)) if err else None
        for rec in self.unsent:
            self.producer.produce(self.topic, rec[0], rec[1], headers=rec[2], on_delivery=on_delivery(rec))
        if self.producer.flush(30) > 0:
            raise SinkError("dead-letter topic did not acknowledge within 30 s")  # all retried: at least once
        if refused:
            self.unsent = [rec for rec, _ in refused]
            raise SinkError(f"dead-letter topic refused {len(refused)} record(s): {refused[0][1]}")
        self.unsent = []

    def discard(self) -> None:
        """Forget unwritten rows and records (their messages will be read and judged again)."""
        self.rows = []
        self.unsent = []

    def close(self) -> None:
        if self.producer is not None:
            self.producer.flush(30)

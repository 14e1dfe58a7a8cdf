"""Dead letters: a message a sink cannot use goes to a topic and to the ``dead_letters`` table, with the reason.

Both are written before the offsets of the batch are committed, so a dead
letter is never lost; the sink itself never stops on bad input. The topic
record keeps the original key and value, with the headers of
``meterstream.kafka.dead_letters`` (``reason``, ``source``).
"""

from __future__ import annotations

import base64
import logging
from typing import Any

from clickhouse_connect.driver.client import Client
from confluent_kafka import Message, Producer

from meterstream.kafka import dead_letters

from .errors import SinkError

log = logging.getLogger(__name__)
COLUMNS = ["topic", "partition", "offset", "key", "value_b64", "reason"]


class DeadLetters:
    """Collects the dead letters of one batch; ``flush()`` makes them durable in the topic and the table."""

    def __init__(self, client: Client, producer: Producer | None, topic: str | None) -> None:
        self.client = client
        self.producer = producer
        self.topic = topic
        self.rows: list[list[Any]] = []
        self.total = 0

    def add(self, msg: Message, reason: str) -> None:
        value = msg.value() or b""
        key = msg.key()
        log.warning("dead-lettering %s[%d]@%d: %s", msg.topic(), msg.partition(), msg.offset(), reason)
        self.rows.append([msg.topic(), msg.partition(), msg.offset(),
                          key.decode("utf-8", "replace") if key is not None else None,
                          base64.b64encode(value).decode(), reason])
        if self.producer is not None and self.topic:
            self.producer.produce(self.topic, value, key,
                                  headers=dead_letters.headers(reason, msg.topic(), msg.partition(), msg.offset()))
            self.producer.poll(0)

    def flush(self) -> None:
        """Write the collected dead letters; raise SinkError so the batch is retried if that fails."""
        if self.producer is not None and self.producer.flush(30) > 0:
            raise SinkError("dead-letter topic did not acknowledge within 30 s")
        if not self.rows:
            return
        try:
            self.client.insert("dead_letters", self.rows, column_names=COLUMNS)
        except Exception as exc:
            raise SinkError(f"writing {len(self.rows)} dead letters failed: {exc}") from exc
        self.total += len(self.rows)
        self.rows = []

    def discard(self) -> None:
        """Forget unwritten rows (their messages will be read and judged again)."""
        self.rows = []

    def close(self) -> None:
        if self.producer is not None:
            self.producer.flush(30)

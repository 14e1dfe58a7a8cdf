"""Which evidence logs a sink process wrote since its checkpointer last looked: handed over in memory.

The writers (the usage insert, the alerts' ``RecordLog``) know the Kafka partitions, hence the logs, each flush
wrote; the checkpointer takes them instead of listing every log in ``evidence_leaves`` each second (a scan
that grows with the log). One board per store URL, because the writers and the checkpointer of one process are
built apart (``runner.py``) but share the store; the checkpointer still lists every log now and then, so a
leaf written by any other path is caught up too, only later.
"""

from __future__ import annotations

import threading
from typing import Iterable


class TouchedLogs:
    """A thread-safe set of log names: writers ``add``, the checkpointer ``take``s them all."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._logs: set[str] = set()

    def add(self, logs: Iterable[str]) -> None:
        with self._lock:
            self._logs.update(logs)

    def take(self) -> set[str]:
        with self._lock:
            logs, self._logs = self._logs, set()
        return logs


_BOARDS: dict[str, TouchedLogs] = {}
_BOARDS_LOCK = threading.Lock()


def touched_logs(store_url: str) -> TouchedLogs:
    """The board of the store at ``store_url`` in this process (created on first use)."""
    with _BOARDS_LOCK:
        return _BOARDS.setdefault(store_url, TouchedLogs())

"""The one consume loop every sink consumer runs: a failed write is retried with back-off, never skipped."""

from __future__ import annotations

import logging
import threading
from typing import Callable

from .errors import SinkError

log = logging.getLogger(__name__)


def run_until(stop: threading.Event, poll_once: Callable[[], None], flush: Callable[[], None],
              max_delay: float, what: str) -> None:
    """Call ``poll_once`` until ``stop``; on SinkError wait 0.5 s, doubling up to ``max_delay``.

    Offsets are committed only by a successful flush, so a write that keeps
    failing holds its messages (and the consumer's progress) until it succeeds.
    """
    delay = 0.5
    while not stop.is_set():
        try:
            poll_once()
            delay = 0.5
        except SinkError as exc:
            log.error("%s: %s; retrying in %.1f s", what, exc, delay)
            stop.wait(delay)
            delay = min(delay * 2, max_delay)
    flush()

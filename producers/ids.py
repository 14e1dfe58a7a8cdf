"""Event ids: RFC 4122 UUID strings (version 8) that cost one counter step and one format.

``uuid.uuid4()`` costs about 1.5 µs, too much for the caller's thread. Instead
each Meter draws 74 random bits once (the first 20 hex digits, with the
version and variant nibbles set) and appends a 48-bit counter. Two meters share
a prefix with probability ~2^-74; one meter would need 2^48 events to wrap, and
then draws a new prefix. Formatting a 12-digit counter costs ~0.1 µs, so the
caller's thread joins a cached head (``high``: all but the last three digits,
which change every 4,096 ids) to a table entry instead.
"""

from __future__ import annotations

import itertools
import secrets
import threading

ID_COUNTER_LIMIT = 1 << 48
LOW_BITS = 12
LOW_MASK = (1 << LOW_BITS) - 1
LOW_HEX = tuple(f"{i:03x}" for i in range(1 << LOW_BITS))  # an id's last three hex digits, by value


def random_prefix() -> str:
    """``xxxxxxxx-xxxx-8xxx-yxxx-`` with 74 random bits, version 8 and the RFC 4122 variant."""
    bits = secrets.randbits(80)
    h = f"{bits:020x}"
    variant = "89ab"[int(h[16], 16) & 3]
    return f"{h[0:8]}-{h[8:12]}-8{h[13:16]}-{variant}{h[17:20]}-"


class EventIds:
    """Thread-safe source of unique event ids; ``next()`` is an atomic C-level counter step."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.prefix = random_prefix()
        self.counter = itertools.count()
        # (n >> LOW_BITS, the id of n without its last three digits): one reference, replaced whole,
        # so a thread reading it sees a matching pair and checks the key against its own n.
        self.high = (0, f"{self.prefix}{0:09x}")

    def take(self) -> int:
        """A number unique within this meter (atomic under the GIL)."""
        return next(self.counter)

    def format(self, n: int) -> str:
        """The UUID string for number ``n`` taken from :meth:`take` (refreshes ``high``)."""
        if n < ID_COUNTER_LIMIT:
            key = n >> LOW_BITS
            head = f"{self.prefix}{key:09x}"
            self.high = (key, head)
            return head + LOW_HEX[n & LOW_MASK]
        return self._rollover(n)

    def fast(self, n: int) -> str:
        """``format(n)``, from the cached head when it matches (what ``Meter.record`` inlines)."""
        key, head = self.high
        return head + LOW_HEX[n & LOW_MASK] if key == n >> LOW_BITS else self.format(n)

    def _rollover(self, n: int) -> str:
        with self._lock:  # practically unreachable: 2^48 events from one meter
            return f"{random_prefix()}{n % ID_COUNTER_LIMIT:012x}"

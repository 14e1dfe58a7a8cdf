"""The ``license_state`` table seen as typed states: decode on read, encode on write, skip what it can.

The table holds ``state_codec`` bytes (its changelog is those bytes). Decoding
a license's state for every message would cost more than the old dict kept in
memory, so the states this worker wrote last are kept decoded, each beside the
bytes it was written as. A read whose stored bytes equal the kept ones reuses
the kept state; anything else (a state restored from the changelog, a
rebalance, a RocksDB store) is decoded. ``load`` hands the state out and
forgets it, and only ``save`` puts it back, so a state changed by a message
that never got written is never reused. The most recently saved ``capacity``
states are kept (the least recently written are dropped first).
"""

from __future__ import annotations

from typing import Any, MutableMapping, Optional

import faust

from meterstream.kafka.partitioner import partition_for

from .state import LicenseState
from .state_codec import decode_state, encode_state

DEFAULT_CAPACITY = 10_000


class LicenseKeyedTable(faust.Table):
    """A Faust table whose changelog partition is the license id's own (the CRC-32 partitioner), with or
    without a message being processed: the HTTP views write reservations outside any agent, and
    Faust's default asks the current event (or the producer's metadata, missing until first use)."""

    def partition_for_key(self, key: Any) -> Optional[int]:
        return partition_for(key, self.partitions or 1)


class LicenseStates:
    """Typed access to the ``license_state`` table (key: license id bytes, value: codec bytes)."""

    def __init__(self, table: MutableMapping[bytes, Any], capacity: int = DEFAULT_CAPACITY) -> None:
        self.table = table
        self.capacity = capacity
        self._kept: dict[bytes, tuple[bytes, LicenseState]] = {}

    def load(self, key: bytes) -> LicenseState | None:
        """The state of license ``key`` for a message to change; ``save`` it afterwards."""
        stored = self.table.get(key)
        kept = self._kept.pop(key, None)
        if stored is None:
            return None
        if kept is not None and kept[0] == stored:
            return kept[1]
        return decode_state(stored, key.decode())

    def save(self, key: bytes, state: LicenseState) -> None:
        """Write ``state`` to the table (and so to its changelog) and keep it decoded."""
        raw = encode_state(state)
        self.table[key] = raw
        kept = self._kept
        kept[key] = (raw, state)
        if len(kept) > self.capacity:
            del kept[next(iter(kept))]

    def peek(self, license_id: str) -> LicenseState | None:
        """The state of ``license_id`` to read only (HTTP views), or None if it has none here."""
        key = license_id.encode()
        stored = self.table.get(key)
        if stored is None:
            return None
        kept = self._kept.get(key)
        if kept is not None and kept[0] == stored:
            return kept[1]
        return decode_state(stored, license_id)

    def items(self) -> list[tuple[str, LicenseState]]:
        """Every license's state held by this worker, decoded."""
        return [(k.decode(), decode_state(v, k.decode())) for k, v in self.table.items() if v is not None]

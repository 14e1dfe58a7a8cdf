"""Which partition a license id lands on, identical for every client of the topics.

The producer library and the license admin publish with librdkafka's default
partitioner (``consistent_random``: CRC-32 of the key modulo the partition
count). Usage and licenses must be co-partitioned for a worker to hold the
terms of the licenses it meters, and Faust's request routing must find the
same partition, so the Faust app is given this partitioner too.
"""

from __future__ import annotations

import zlib
from typing import Optional, Sequence


def partition_for(key: bytes, partitions: int) -> int:
    """librdkafka ``consistent`` partitioning: CRC-32 of the key modulo the count."""
    return zlib.crc32(key) % partitions


def crc32_partitioner(key: Optional[bytes], all_partitions: Sequence[int], available: Sequence[int]) -> int:
    """Faust/aiokafka partitioner signature around ``partition_for``."""
    if not key:
        return all_partitions[0]
    return all_partitions[partition_for(key, len(all_partitions))]

"""Concurrency limits of the attempts: per endpoint, and for the whole dispatcher."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class ConcurrencyLimits:
    """At most ``per_endpoint`` requests in flight to one endpoint and ``total`` in all.

    Create it inside the running event loop that uses it.
    """

    def __init__(self, total: int, per_endpoint: int) -> None:
        self._global = asyncio.Semaphore(total)
        self._per_endpoint: defaultdict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(per_endpoint))

    @asynccontextmanager
    async def slot(self, endpoint_id: str) -> AsyncIterator[None]:
        """The endpoint's slot is taken first, so a slow endpoint's queue holds no global slot
        and never delays other endpoints."""
        async with self._per_endpoint[endpoint_id]:
            async with self._global:
                yield

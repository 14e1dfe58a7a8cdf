"""Feeding a worker's ``GovernanceView`` from the compacted governance topics.

Each topic is read to its end at start (in a thread: the reads block), then
followed every ``poll_s``; records are applied on the event loop, so the view
is only ever changed from one thread. Usage waits (bounded) until the first
read completed: without the inventory and policies every application would
look unregistered.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from meterstream.config import KafkaSettings, Topics
from meterstream.errors import MeterstreamError
from meterstream.kafka.compacted import CompactedReader

from .view import BUDGETS, EXCEPTIONS, INVENTORY, POLICIES, PRICES, GovernanceView

log = logging.getLogger(__name__)


def topics_by_kind(t: Topics) -> dict[str, str]:
    return {INVENTORY: t.inventory, POLICIES: t.policies, EXCEPTIONS: t.policy_exceptions, PRICES: t.prices,
            BUDGETS: t.budgets}


class GovernanceFeed:
    """Readers of the governance topics applying into one view."""

    def __init__(self, kafka: KafkaSettings, topics: Topics, view: GovernanceView, poll_s: float = 0.5) -> None:
        self.kafka, self.view, self.poll_s = kafka, view, poll_s
        self.kinds = topics_by_kind(topics)
        self.readers: dict[str, CompactedReader] = {}

    def _open_and_catch_up(self) -> list[tuple[str, Any]]:
        out = []
        for kind, topic in self.kinds.items():
            reader = self.readers[kind] = CompactedReader(self.kafka, topic)
            out += [(kind, m) for m in reader.catch_up()]
        return out

    def _poll(self) -> list[tuple[str, Any]]:
        return [(kind, m) for kind, r in self.readers.items() for m in r.poll(0)]

    def _apply(self, msgs: list[tuple[str, Any]]) -> None:
        for kind, m in msgs:
            self.view.apply(kind, m.key(), m.value())

    async def _first_read(self) -> None:
        """Read every topic to its end; retried (the topics may not exist yet, or Kafka may be away)."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                self._apply(await loop.run_in_executor(None, self._open_and_catch_up))
                return
            except MeterstreamError as exc:
                log.warning("governance topics not readable yet (%s); retrying", exc)
                self._close()
                await asyncio.sleep(self.poll_s * 4)

    def _close(self) -> None:
        for r in self.readers.values():
            r.close()
        self.readers.clear()

    async def run(self) -> None:
        """Catch up, mark the view ready, then follow until cancelled."""
        loop = asyncio.get_running_loop()
        try:
            await self._first_read()
            self.view.ready = True
            log.info("governance view ready: %d models, %d use cases, %d rules, %d exceptions, %d budgets",
                     len(self.view.inventory.models), len(self.view.inventory.use_cases),
                     len(self.view.policy.rules) if self.view.policy else 0, len(self.view.exceptions.by_id),
                     len(self.view.budgets.by_key))
            while True:
                self._apply(await loop.run_in_executor(None, self._poll))
                await asyncio.sleep(self.poll_s)
        finally:
            self._close()


async def wait_ready(view: GovernanceView, grace_s: float) -> None:
    """Wait at most ``grace_s`` for the first read of the governance topics."""
    deadline = asyncio.get_running_loop().time() + grace_s
    while not view.ready and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.02)

"""The governance parts of the Faust app: the feed task, the budget agent, and sending spend.

``wire_governance`` is the one call ``app.py`` makes: it adds

* a task that keeps the worker's ``GovernanceView`` current (``feed.py``);
* the ``judge_budgets`` agent: the ``spend`` topic (key = budget scope) ->
  ``budget_state`` table (one ``ScopeSpend`` per scope, JSON bytes) -> budget
  alerts on the alerts topic, keyed by scope (``budgets.py``);

and returns what the usage agent needs: the view, the columns to decode, and
``send_spend`` for the records ``apply_message`` returned.
"""

from __future__ import annotations

import logging
from typing import Any, AsyncIterator, Callable

import faust

from meterstream.errors import MeterstreamError
from meterstream.schemas import RecordCodec

from ..settings import ProcessorSettings
from .budgets import ScopeSpend, apply_spend
from .feed import GovernanceFeed, wait_ready
from .view import GovernanceView

log = logging.getLogger(__name__)
BUDGET_TABLE = "budget_state"


class Governance:
    """What the usage agent and the HTTP views use of governance."""

    def __init__(self, view: GovernanceView, spend_topic: faust.TopicT, grace_s: float) -> None:
        self.view, self.spend_topic, self.grace_s = view, spend_topic, grace_s
        self.codec = RecordCodec("spend")
        self._waited = False
        self._fields: tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]] | None = None

    def fields(self, base: tuple[str, ...]) -> tuple[str, ...]:
        """``base`` plus the event columns governance needs now (asked twice per usage message: the
        answer is kept while ``base`` and the view's columns are the same objects)."""
        extra = self.view.columns()
        kept = self._fields
        if kept is None or kept[0] is not base or kept[1] is not extra:
            kept = self._fields = (base, extra, tuple(dict.fromkeys(base + extra)))
        return kept[2]

    async def ready(self) -> None:
        """Wait (once, bounded) for the first read of the governance topics; after that never again."""
        if not self._waited:
            await wait_ready(self.view, self.grace_s)
            self._waited = True

    async def send_spend(self, records: list[dict[str, Any]]) -> None:
        for r in records:
            await self.spend_topic.send(key=r["scope"].encode(), value=self.codec.encode(r))


def wire_governance(app: faust.App, settings: ProcessorSettings, raw: Callable[[str], faust.TopicT],
                    alerts_out: faust.TopicT) -> Governance:
    """Add the governance task, table and agent to ``app``."""
    view = GovernanceView()
    feed = GovernanceFeed(settings, settings, view)
    spend_topic = raw(settings.spend)
    table = app.Table(BUDGET_TABLE, default=None, key_type=bytes, value_type=bytes, partitions=settings.partitions)
    codec, alert_codec = RecordCodec("spend"), RecordCodec("alert")
    retention_us = int(settings.processor_alert_retention_days * 86_400e6)
    governance = Governance(view, spend_topic, settings.processor_governance_grace_s)

    @app.task
    async def governance_feed() -> None:
        await feed.run()

    @app.agent(spend_topic)
    async def judge_budgets(stream: faust.StreamT) -> AsyncIterator[Any]:
        async for event in stream.events():
            msg = event.message
            try:
                record = codec.decode(msg.value or b"")
            except MeterstreamError as exc:
                log.warning("spend record %s[%d]@%d refused: %s", msg.topic, msg.partition, msg.offset, exc)
                continue
            await governance.ready()
            st = ScopeSpend.decode(table.get(msg.key))
            alerts, changed = apply_spend(st, record, msg.offset, view.budgets, retention_us)
            if changed:
                table[msg.key] = st.encode()
            for alert in alerts:
                await alerts_out.send(key=msg.key, value=alert_codec.encode(alert))
            yield msg.offset

    return governance

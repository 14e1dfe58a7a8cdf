"""The sink's evidence thread: catches every log's tree up with its leaves and signs checkpoints.

Runs beside the consumers in ``meterstream sink`` (its own ClickHouse client).
Leaves are already durable, exactly once, when a batch is committed (they are
written by the batch's own insert), so the trees and checkpoints can follow a
second behind without weakening anything: this thread wakes every second
(or, after a long round, ``DUTY`` times that round's duration later, so its fixed
per-round cost is spread over more leaves when the writers keep it busy),
extends the logs the process's writers touched since (``touched.py``), those
not yet signed to their end, and every ``FULL_S`` seconds every log in the
store (ClickHouse hashes complete tiles), and signs a checkpoint of a log once
``evidence_checkpoint_events`` leaves were added or ``evidence_checkpoint_s``
seconds passed since its last one. A round with nothing to visit sends no
query. On stop it signs every log that grew, so a stopped sink leaves its last
leaves covered.
"""

from __future__ import annotations

import logging
import threading
import time

from clickhouse_connect.driver.client import Client

from ..settings import EvidenceSettings
from .log import EvidenceLog
from .runtime import evidence_log
from .store import StoredCheckpoint
from .touched import TouchedLogs, touched_logs

log = logging.getLogger(__name__)
TICK_S = 1.0
FULL_S = 60.0  # how often every log in the store is listed and visited, written by this process or not
DUTY = 4.0  # after a round of t seconds, wait at least DUTY * t: the checkpointer takes at most ~1/5 of the time


class Checkpointer:
    """``run(stop)`` until stopped; a failing round is logged and retried next tick."""

    name = "evidence"

    def __init__(self, evidence: EvidenceLog, touched: TouchedLogs | None = None, tick_s: float = TICK_S,
                 full_s: float = FULL_S) -> None:
        self.evidence, self.touched, self.tick_s, self.full_s = evidence, touched, tick_s, full_s
        self.rounds = 0
        self._listed_at: float | None = None  # when every log was last visited; None: never yet

    def run(self, stop: threading.Event) -> None:
        wait = self.tick_s
        while not stop.wait(wait):
            started = time.monotonic()
            self.round()
            wait = max(self.tick_s, DUTY * (time.monotonic() - started))
        self.round(final=True)

    def round(self, final: bool = False) -> None:
        try:
            signed = self.evidence.checkpoint_all() if final else self._catch_up()
            self.rounds += 1
            for cp in signed:
                log.info("signed checkpoint %s size %d", cp.origin, cp.size)
        except Exception as exc:  # noqa: BLE001 - ClickHouse away: the leaves wait, the next round catches up
            log.warning("evidence checkpoint round failed (%s); retrying", exc)

    def _catch_up(self) -> list[StoredCheckpoint]:
        """Visit every log on the first round and every ``full_s``; else the touched and the not yet signed."""
        now = time.monotonic()
        if self.touched is None or self._listed_at is None or now - self._listed_at >= self.full_s:
            if self.touched is not None:
                self.touched.take()  # all of them are visited now
            self._listed_at = now
            return self.evidence.catch_up()
        names = self.touched.take() | self.evidence.unsigned()
        return self.evidence.catch_up(names) if names else []


def checkpointer(settings: EvidenceSettings, client: Client) -> Checkpointer | None:
    evidence = evidence_log(settings, client)
    return Checkpointer(evidence, touched_logs(settings.clickhouse_url)) if evidence is not None else None

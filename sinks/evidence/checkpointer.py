"""The sink's evidence thread: catches every log's tree up with its leaves and signs checkpoints.

Runs beside the consumers in ``meterstream sink`` (its own ClickHouse client).
Leaves are already durable, exactly once, when a batch is committed (they are
written by the batch's own insert), so the trees and checkpoints can follow a
second behind without weakening anything: this thread wakes every second,
extends every log with the leaves stored since (ClickHouse hashes complete
tiles), and signs a checkpoint of a log once ``evidence_checkpoint_events``
leaves were added or ``evidence_checkpoint_s`` seconds passed since its last
one. On stop it signs every log that grew, so a stopped sink leaves its last
leaves covered.
"""

from __future__ import annotations

import logging
import threading

from clickhouse_connect.driver.client import Client

from ..settings import EvidenceSettings
from .log import EvidenceLog
from .runtime import evidence_log

log = logging.getLogger(__name__)
TICK_S = 1.0


class Checkpointer:
    """``run(stop)`` until stopped; a failing round is logged and retried next tick."""

    name = "evidence"

    def __init__(self, evidence: EvidenceLog, tick_s: float = TICK_S) -> None:
        self.evidence, self.tick_s = evidence, tick_s
        self.rounds = 0

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(self.tick_s):
            self.round()
        self.round(final=True)

    def round(self, final: bool = False) -> None:
        try:
            signed = self.evidence.checkpoint_all() if final else self.evidence.catch_up()
            self.rounds += 1
            for cp in signed:
                log.info("signed checkpoint %s size %d", cp.origin, cp.size)
        except Exception as exc:  # noqa: BLE001 - ClickHouse away: the leaves wait, the next round catches up
            log.warning("evidence checkpoint round failed (%s); retrying", exc)


def checkpointer(settings: EvidenceSettings, client: Client) -> Checkpointer | None:
    evidence = evidence_log(settings, client)
    return Checkpointer(evidence) if evidence is not None else None

"""The evidence log of a running sink: its settings, signer and checkpoint publisher, built once per process."""

from __future__ import annotations

import logging

from clickhouse_connect.driver.client import Client

from meterstream.kafka import clients
from meterstream.kafka.topics import ensure_topics, evidence_topics

from ..settings import EvidenceSettings
from .log import Cadence, EvidenceLog, Publish
from .signing import Signer, signer
from .store import LogStore

log = logging.getLogger(__name__)


def load_signer(settings: EvidenceSettings, create: bool = False) -> Signer:
    """The signer of the configured key; with ``create``, a missing key is generated."""
    secret = settings.evidence_key_passphrase.get_secret_value() if settings.evidence_key_passphrase else None
    return signer(settings.evidence_key_path, settings.evidence_origin, secret, create=create)


def evidence_log(settings: EvidenceSettings, client: Client, publish: bool = True) -> EvidenceLog | None:
    """The log a sink consumer appends to (None when disabled); creates the key on first start."""
    if not settings.evidence_enabled:
        return None
    return EvidenceLog(LogStore(client), load_signer(settings, create=True),
                       Cadence(settings.evidence_checkpoint_events, settings.evidence_checkpoint_s),
                       settings.evidence_origin, publisher(settings) if publish else None)


def publisher(settings: EvidenceSettings) -> Publish:
    """Publishes each checkpoint to ``{prefix}evidence.checkpoints``, keyed by origin, for witnesses."""
    ensure_topics(settings, evidence_topics(settings))
    producer = clients.producer(settings)
    topic = settings.evidence_checkpoints

    def publish(origin: str, note: str) -> None:
        producer.produce(topic, note.encode(), origin.encode())
        producer.poll(0)
        if producer.flush(10):
            raise TimeoutError(f"checkpoint not acknowledged by {topic} within 10 s")

    return publish

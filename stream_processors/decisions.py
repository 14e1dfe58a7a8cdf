"""Every validate, check and reserve answer, kept as evidence on the decisions topic.

A decision names the license (empty for an unknown key), the code, the
version of the terms it was judged against (their ``updated_at``), the client,
what was asked (feature, metric, quantity, model, version, hardware, region)
and when. The caller gets the ``decision_id``; usage events carry it, so the
audit trail links each use to the answer that allowed it. The sink keeps the
topic in the ``license_decisions`` table.

Decisions are handed to the producer without waiting (``send_soon``): the
answer is not delayed by Kafka. A reservation's answer waits for the producer
to flush, which covers its decision too.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any, Protocol

from meterstream.schemas import RecordCodec

from .license.terms import LicenseTerms
from .validation import Ask, Verdict


class Sender(Protocol):
    def send_soon(self, *, key: Any = None, value: Any = None) -> Any: ...


def new_decision_id() -> str:
    """A decision id: random, unique, also the id of the answer the caller holds."""
    return "dec_" + uuid.uuid4().hex


def record(kind: str, decision_id: str, verdict: Verdict, terms: LicenseTerms | None, ask: Ask, client: str,
           now_us: int, reservation_id: str | None = None) -> dict[str, Any]:
    """The Decision record of one answer."""
    return {
        "decision_id": decision_id, "kind": kind, "license_id": terms.license_id if terms else "",
        "valid": verdict.valid, "code": verdict.code, "message": verdict.message,
        "terms_version": terms.updated_at_us if terms else None, "tier": terms.tier if terms else "",
        "client": client, "feature": ask.feature or "", "metric": ask.metric or "",
        "quantity": Decimal(ask.quantity).scaleb(-6), "model": ask.model or "",
        "model_version": ask.model_version or "", "hardware_id": ask.hardware_id or "",
        "region": ask.region or "", "reservation_id": reservation_id or "", "decided_at": now_us,
    }


class DecisionLog:
    """Encodes decisions and hands them to the decisions topic (key = license id)."""

    def __init__(self, topic: Sender) -> None:
        self.topic = topic
        self.codec = RecordCodec("decision")
        self.sent = 0

    def log(self, rec: dict[str, Any]) -> None:
        self.topic.send_soon(key=rec["license_id"].encode() or None, value=self.codec.encode(rec))
        self.sent += 1

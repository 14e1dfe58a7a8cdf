"""Alert kinds, deterministic alert ids, and the outbox that makes alert delivery at-least-once.

An alert id is the SHA-256 of what makes the alert unique (license, kind,
metric, period, threshold, offending value), so the same breach always gets
the same id: a redelivered message never creates a second alert, and a
consumer of the alerts topic (sink, webhooks) dedups on ``alert_id``.

Each license's state keeps the alerts it fired in a small outbox (id -> the
record, the source offset that fired it, and when the mark may be forgotten).
The outbox is written in the same table value as the usage, so "counted" and
"alerted" change together. If a worker dies after that write but before the
alert reached the alerts topic, the redelivered message is recognised by its
offset and its alerts are sent again, with the same ids.
"""

from __future__ import annotations

import hashlib
from typing import Any, Callable, Sequence

from meterstream.clock import now_us

from .quota import DAY_US
from .state import OutboxEntry

# Alert kinds (the ``kind`` field of the Alert record).
THRESHOLD = "threshold"
QUOTA_EXHAUSTED = "quota_exhausted"
NOT_YET_VALID = "license_not_yet_valid"
EXPIRED = "license_expired"
MODEL_NOT_ALLOWED = "model_not_allowed"
HARDWARE_NOT_ALLOWED = "hardware_not_allowed"
HARDWARE_LIMIT = "hardware_limit_exceeded"
REGION_NOT_ALLOWED = "region_not_allowed"
FEATURE_NOT_ENABLED = "feature_not_enabled"
UNKNOWN_LICENSE = "unknown_license"
LICENSE_REVOKED = "license_revoked"
LICENSE_SUSPENDED = "license_suspended"
SPEND_SPIKE = "spend_spike"
SEQUENCE_GAP = "sequence_gap"
SEQUENCE_REPEAT = "sequence_repeat"
OFFLINE_CHAIN_GAP = "offline_chain_gap"          # signed offline usage (offline_chain.py): a batch dropped
OFFLINE_CHAIN_INVALID = "offline_chain_invalid"  # ... altered, forged or signed by an unregistered key
OFFLINE_CHAIN_REPLAY = "offline_chain_replay"    # ... sent again, or an old link replayed
# Governance (stream_processors/governance): a policy rule's own severity overrides the default here.
POLICY_VIOLATION = "policy_violation"
POLICY_EXCEPTED = "policy_excepted"
MONEY_SPIKE = "money_spike"
BUDGET_THRESHOLD = "budget_threshold"

SEVERITY = {
    THRESHOLD: "warning", QUOTA_EXHAUSTED: "critical", NOT_YET_VALID: "warning", EXPIRED: "critical",
    MODEL_NOT_ALLOWED: "critical", HARDWARE_NOT_ALLOWED: "critical", HARDWARE_LIMIT: "critical",
    REGION_NOT_ALLOWED: "critical", FEATURE_NOT_ENABLED: "warning", UNKNOWN_LICENSE: "critical",
    LICENSE_REVOKED: "critical", LICENSE_SUSPENDED: "critical", SPEND_SPIKE: "warning",
    SEQUENCE_GAP: "warning", SEQUENCE_REPEAT: "info", OFFLINE_CHAIN_GAP: "critical",
    OFFLINE_CHAIN_INVALID: "critical", OFFLINE_CHAIN_REPLAY: "warning",
    POLICY_VIOLATION: "warning", POLICY_EXCEPTED: "info", MONEY_SPIKE: "warning", BUDGET_THRESHOLD: "warning",
}


def alert_id(license_id: str, kind: str, metric: str = "", period: str = "", threshold: int | None = None,
             subject: str = "") -> str:
    """Deterministic id: the same breach always hashes to the same id."""
    parts = (license_id, kind, metric, period, "" if threshold is None else str(threshold), subject)
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def make_alert(license_id: str, kind: str, message: str, *, metric: str = "", period: str = "",
               threshold: int | None = None, subject: str = "", evidence: dict[str, Any] | None = None,
               tenant: str = "", team: str = "", event_id: str | None = None,
               severity: str | None = None) -> dict[str, Any]:
    """An Alert record (Avro field names), its id derived from the identifying fields."""
    return {
        "alert_id": alert_id(license_id, kind, metric, period, threshold, subject),
        "kind": kind,
        "severity": severity or SEVERITY[kind],
        "license_id": license_id,
        "tenant": tenant,
        "team": team,
        "metric": metric,
        "period": period,
        "threshold": threshold,
        "message": message,
        "evidence": {k: str(v) for k, v in (evidence or {}).items()},
        "event_id": event_id,
        "created_at": now_us(),
    }


class Outbox:
    """The fired-alert marks of one license (``LicenseState.outbox``) and the alerts new in this message."""

    __slots__ = ("fired", "offset", "new")

    def __init__(self, fired: dict[str, OutboxEntry], offset: int) -> None:
        self.fired = fired
        self.offset = offset
        self.new: list[dict[str, Any]] = []

    def has(self, aid: str) -> bool:
        return aid in self.fired

    def fire(self, alert: dict[str, Any], forget_after_us: int) -> bool:
        """Record and queue ``alert`` unless its id already fired; True if it is new."""
        aid = alert["alert_id"]
        if aid in self.fired:
            return False
        self.fired[aid] = OutboxEntry(self.offset, forget_after_us, alert)
        self.new.append(alert)
        return True


def resend_for_offset(fired: dict[str, OutboxEntry], offset: int) -> list[dict[str, Any]]:
    """Alerts fired by the message at ``offset`` (for a redelivered message already applied)."""
    return [e.alert for e in fired.values() if e.offset == offset]


def prune(fired: dict[str, OutboxEntry], now_us: int) -> None:
    """Forget marks whose period is long over (a very late event may re-send one: same id)."""
    for aid in [aid for aid, e in fired.items() if e.forget_after_us < now_us]:
        del fired[aid]


class MessageAlerts:
    """Fires the alerts of one usage message into the outbox, with what they share.

    An alert's event id and the day its mark is kept for come from the event at
    ``index`` in the message; ``retention_us`` is how long after its day ends a
    mark is kept unless the caller says otherwise.
    """

    def __init__(self, license_id: str, tenant: str, box: Outbox, times: Sequence[int], retention_us: int,
                 event_id: Callable[[int], str | None]) -> None:
        self.license_id, self.tenant, self.box = license_id, tenant, box
        self.times, self.retention_us, self.event_id = times, retention_us, event_id

    def over(self, keep: Sequence[int] | None) -> "MessageAlerts":
        """The same alerts, indexed by position among the events kept (counted) from the message:
        an alert fired at counted index ``i`` names the message's event ``keep[i]``."""
        if keep is None:
            return self
        event_id = self.event_id
        return MessageAlerts(self.license_id, self.tenant, self.box, [self.times[i] for i in keep],
                             self.retention_us, lambda i: event_id(keep[i]))

    def fired(self, kind: str, metric: str, period: str, threshold: int | None = None) -> bool:
        """Whether the alert with these identifying fields is already in the outbox."""
        return self.box.has(alert_id(self.license_id, kind, metric, period, threshold))

    def fire(self, kind: str, message: str, period: str, *, index: int, metric: str = "", subject: str = "",
             threshold: int | None = None, evidence: dict[str, Any] | None = None, team: str = "",
             forget_after_us: int | None = None, severity: str | None = None) -> None:
        """Fire the alert unless its id already fired (the outbox makes repeats harmless)."""
        if self.box.has(alert_id(self.license_id, kind, metric, period, threshold, subject)):
            return
        alert = make_alert(self.license_id, kind, message, metric=metric, period=period, threshold=threshold,
                           subject=subject, evidence=evidence, tenant=self.tenant, team=team,
                           event_id=self.event_id(index), severity=severity)
        if forget_after_us is None:
            t = self.times[min(index, len(self.times) - 1)]
            forget_after_us = t - t % DAY_US + DAY_US + self.retention_us
        self.box.fire(alert, forget_after_us)

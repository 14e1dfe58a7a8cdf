"""Publishing governance data: inventory entries, policies, exceptions, budgets, alert actions.

(The price catalog is published by ``meterstream prices load``: ``sinks/pricing/publish.py``.)

Each kind lives on its compacted topic (``meterstream.kafka.topics.governance_topics``),
the latest value per key being the state; reads go from the topic's start to
its end so a change always starts from what was last published. Every publish
is stamped with the time and who made it, and the sink keeps every version in
ClickHouse (the approval and exception history).
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any, Iterator

from confluent_kafka import Producer

from meterstream.clock import now_us
from meterstream.config import KafkaSettings, Topics
from meterstream.errors import TopicError
from meterstream.kafka import clients
from meterstream.kafka.compacted import read_to_end
from meterstream.kafka.topics import ensure_topics, governance_topics, pipeline_topics
from meterstream.schemas import RecordCodec

from .budgets import Budget
from .errors import GovernanceError, InventoryError
from .exceptions import PolicyException
from .inventory import InventoryItem
from .policy import Policy, parse_policy

ACTIONS = ("acknowledge", "resolve", "reopen")


class GovernanceAdmin:
    """Python API behind ``meterstream inventory|policy|exception|alert``."""

    def __init__(self, kafka: KafkaSettings | None = None, topics: Topics | None = None, timeout: float = 30.0) -> None:
        self.kafka, self.topics, self.timeout = kafka or KafkaSettings(), topics or Topics(), timeout
        self._producer: Producer | None = None
        self._codecs: dict[str, RecordCodec] = {}
        self._errors: list[Any] = []

    def ensure_topics(self) -> None:
        ensure_topics(self.kafka, pipeline_topics(self.topics) + governance_topics(self.topics))

    # -- inventory -------------------------------------------------------------------------------

    def put_item(self, item: InventoryItem) -> InventoryItem:
        """Publish an entry as given (import, or a new entry)."""
        stamped = replace(item, updated_at_us=now_us())
        self._send(self.topics.inventory, stamped.key, "inventory", stamped.to_record())
        return stamped

    def set_status(self, key: str, status: str, by: str, note: str = "") -> InventoryItem:
        """Move an entry along its lifecycle (the approval record: who, when, what changed)."""
        current = self.items().get(key)
        if current is None:
            raise InventoryError(f"no inventory entry {key} on {self.topics.inventory}")
        return self.put_item(current.step_to(status, by, note))

    def items(self) -> dict[str, InventoryItem]:
        """The current inventory by key (``model:<id>``, ``use_case:<id>``)."""
        return {k: InventoryItem.from_record(v) for k, v in self._latest(self.topics.inventory, "inventory").items()}

    # -- policies and exceptions -----------------------------------------------------------------

    def load_policy(self, text: str, by: str) -> Policy:
        """Compile the file (refused with the rule named if it does not), then publish it as the next version."""
        parsed = parse_policy(text)
        current = self._latest(self.topics.policies, "policy").get(parsed.policy_id)
        version = max(parsed.version, (current["version"] + 1) if current else 1)
        self._send(self.topics.policies, parsed.policy_id, "policy",
                   {"policy_id": parsed.policy_id, "version": version, "text": text, "updated_by": by,
                    "updated_at": now_us()})
        return parse_policy(text, parsed.policy_id, version)

    def policies(self) -> dict[str, dict[str, Any]]:
        return self._latest(self.topics.policies, "policy")

    def grant(self, rule_id: str, reason: str, approver: str, expires_at_us: int, scope: dict[str, str],
              requested_by: str = "", starts_at_us: int | None = None, exception_id: str | None = None) -> PolicyException:
        if not (reason and approver):
            raise GovernanceError("an exception needs a reason and an approver")
        now = now_us()
        e = PolicyException(exception_id or f"exc-{uuid.uuid4().hex[:12]}", rule_id, reason, approver, expires_at_us,
                            now if starts_at_us is None else starts_at_us, scope, requested_by, updated_at_us=now)
        if e.expires_at_us <= e.created_at_us:
            raise GovernanceError("an exception must expire after it starts")
        self._send(self.topics.policy_exceptions, e.exception_id, "policy_exception", e.to_record())
        return e

    def revoke(self, exception_id: str, by: str, note: str = "") -> PolicyException:
        current = self.exceptions().get(exception_id)
        if current is None:
            raise GovernanceError(f"no exception {exception_id}")
        now = now_us()
        e = replace(current, revoked_at_us=now, note=f"revoked by {by}: {note}".strip(), updated_at_us=now)
        self._send(self.topics.policy_exceptions, exception_id, "policy_exception", e.to_record())
        return e

    def exceptions(self) -> dict[str, PolicyException]:
        return {k: PolicyException.from_record(v)
                for k, v in self._latest(self.topics.policy_exceptions, "policy_exception").items()}

    # -- money and remediation -------------------------------------------------------------------

    def put_budgets(self, budgets: list[Budget]) -> int:
        for b in budgets:
            self._send(self.topics.budgets, b.key, "budget", replace(b, updated_at_us=now_us()).to_record(),
                       flush=False)
        self._flush()
        return len(budgets)

    def alert_action(self, alert_id: str, action: str, actor: str, note: str = "") -> dict[str, Any]:
        if action not in ACTIONS:
            raise GovernanceError(f"action must be one of {', '.join(ACTIONS)}")
        if not actor:
            raise GovernanceError("say who acts on the alert (--by)")
        record = {"alert_id": alert_id, "action": action, "actor": actor, "note": note, "at": now_us()}
        self._send(self.topics.alert_actions, alert_id, "alert_action", record)
        return record

    # -- plumbing --------------------------------------------------------------------------------

    def _codec(self, subject: str) -> RecordCodec:
        if subject not in self._codecs:
            self._codecs[subject] = RecordCodec(subject)
        return self._codecs[subject]

    def _send(self, topic: str, key: str, subject: str, record: dict[str, Any], flush: bool = True) -> None:
        producer = self._get_producer()
        value = self._codec(subject).encode(record)
        while True:
            try:
                producer.produce(topic, value, key.encode(), on_delivery=self._delivered)
                break
            except BufferError:
                producer.poll(0.05)
        if flush:
            self._flush()

    def _delivered(self, err: Any, msg: Any) -> None:
        if err is not None:
            self._errors.append(err)

    def _flush(self) -> None:
        if self._get_producer().flush(self.timeout) or self._errors:
            errors, self._errors = self._errors, []
            raise GovernanceError(f"governance records not acknowledged by Kafka: {errors[:3] or 'timeout'}")

    def _get_producer(self) -> Producer:
        if self._producer is None:
            self._producer = clients.producer(self.kafka)
        return self._producer

    def _latest(self, topic: str, subject: str) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for key, value in self._records(topic):
            if value is None:
                out.pop(key, None)
            else:
                out[key] = self._codec(subject).decode(value)
        return out

    def _records(self, topic: str) -> Iterator[tuple[str, bytes | None]]:
        try:
            for msg in read_to_end(self.kafka, topic, timeout=self.timeout):
                key = msg.key()
                if key is not None:
                    yield key.decode(), msg.value()
        except TopicError as exc:
            raise GovernanceError(f"cannot read {topic}: {exc} (run `meterstream topics`)") from exc

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush(self.timeout)
            self._producer = None

    def __enter__(self) -> "GovernanceAdmin":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

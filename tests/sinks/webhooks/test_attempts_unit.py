"""The attempt runner with fake collaborators (unit tests, no broker, no HTTP): what each result decides."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from pydantic import SecretStr

from meterstream.sinks.webhooks.attempts import AttemptRecorder
from meterstream.sinks.webhooks.endpoints import Endpoint
from meterstream.sinks.webhooks.limits import ConcurrencyLimits
from meterstream.sinks.webhooks.retry_policy import RetryPolicy
from meterstream.sinks.webhooks.secret_box import SecretBox, SecretCache, generate_master_key
from meterstream.sinks.webhooks.sender import AttemptResult
from meterstream.sinks.webhooks.state import PENDING, DeliveryState

BOX = SecretBox(SecretStr(generate_master_key()))


@dataclass
class Fakes:
    """Every collaborator of the runner, recording what it was told, in one event list."""

    status: int | None = 200
    stopping: bool = False
    events: list[tuple[str, str]] = field(default_factory=list)
    endpoint: Endpoint = field(default_factory=lambda: Endpoint(
        "ep_1", "http://receiver/hook", secrets=[{"ciphertext": BOX.encrypt("s3cret"), "expires_at": None}]))

    def find(self, endpoint_id: str) -> Endpoint | None:
        return self.endpoint if endpoint_id == self.endpoint.endpoint_id else None

    def put(self, endpoint: Endpoint) -> None:
        self.events.append(("put", endpoint.disabled_reason))

    async def post(self, url: str, msg_id: str, body: bytes, secrets: list[str]) -> AttemptResult:
        self.events.append(("post", ",".join(secrets)))
        return AttemptResult(self.status, 1000, None if self.status == 200 else "error", None)

    def write_state(self, st: DeliveryState, partition: int) -> None:
        self.events.append(("state", f"{st.status}/{st.attempts}"))

    def log_attempt(self, st: DeliveryState, url: str, attempt: int, result: AttemptResult,
                    outcome: str, next_at: int | None) -> None:
        self.events.append(("log", f"{outcome}/{attempt}"))

    def dead_letter(self, st: DeliveryState, reason: str) -> None:
        self.events.append(("dlq", reason))

    def reschedule(self, partition: int, st: DeliveryState) -> None:
        self.events.append(("reschedule", f"{st.status}/{st.attempts}"))

    def finished(self, partition: int, st: DeliveryState) -> None:
        self.events.append(("finished", st.status))

    def attempt(self, st: DeliveryState) -> list[tuple[str, str]]:
        async def go() -> None:
            runner = AttemptRecorder(sender=self, endpoints=self, secrets=SecretCache(BOX),
                                     policy=RetryPolicy((1.0,), 0.0), limits=ConcurrencyLimits(2, 1),
                                     journal=self, schedule=self, stopping=lambda: self.stopping)
            await runner.attempt(0, st)
        asyncio.run(go())
        return self.events


def delivery(attempts: int = 0, endpoint_id: str = "ep_1") -> DeliveryState:
    return DeliveryState("wh_1", endpoint_id, "al_1", "lic-1", b"{}", attempts, PENDING, 0, 0, 0)


def test_delivered_logs_then_writes_the_state_then_finishes() -> None:
    assert Fakes(status=200).attempt(delivery()) == [
        ("post", "s3cret"), ("log", "delivered/1"), ("state", "delivered/1"), ("finished", "delivered")]


def test_a_retryable_failure_writes_the_state_then_reschedules() -> None:
    assert Fakes(status=503).attempt(delivery())[1:] == [
        ("log", "retry/1"), ("state", "pending/1"), ("reschedule", "pending/1")]


def test_exhausted_goes_to_the_dead_letter_topic_before_the_state_says_so() -> None:
    events = Fakes(status=503).attempt(delivery(attempts=1))
    assert [e[0] for e in events] == ["post", "log", "dlq", "state", "finished"]
    assert events[1] == ("log", "exhausted/2") and events[3] == ("state", "exhausted/2")


def test_410_disables_the_endpoint_and_dead_letters() -> None:
    fakes = Fakes(status=410)
    events = fakes.attempt(delivery())
    assert [e[0] for e in events] == ["post", "log", "put", "dlq", "state", "finished"]
    assert not fakes.endpoint.enabled and "410 Gone" in fakes.endpoint.disabled_reason


def test_a_removed_endpoint_fails_the_delivery_without_a_request() -> None:
    assert Fakes().attempt(delivery(endpoint_id="ep_gone")) == [
        ("dlq", "endpoint removed"), ("state", "failed/0"), ("finished", "failed")]


def test_while_stopping_nothing_is_sent_or_written() -> None:
    assert Fakes(stopping=True).attempt(delivery()) == []


def test_an_undecryptable_secret_postpones_the_delivery() -> None:
    fakes = Fakes()
    fakes.endpoint.secrets = [{"ciphertext": SecretBox(SecretStr(generate_master_key()))
                               .encrypt("x"), "expires_at": None}]
    assert fakes.attempt(delivery()) == [("reschedule", "pending/0")]

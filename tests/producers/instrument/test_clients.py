"""meter.instrument() on the real openai and anthropic SDKs, pointed (base_url) at a local fake API.

The meter here is a real Meter with no broker (its validation runs on every
event), wrapped to see what was recorded; tests/e2e/test_ingestion.py takes the
same hooks through Kafka to ClickHouse.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Iterator

import pytest

from meterstream.producers import Meter
from tests.producers.instrument.fake_llm_api import FakeLlmApi

openai = pytest.importorskip("openai")
anthropic = pytest.importorskip("anthropic")


class Recorded:
    """A Meter whose record() calls are kept (and still validated by the real meter)."""

    def __init__(self, meter: Meter) -> None:
        self.meter = meter
        self.calls: list[dict[str, Any]] = []

    def record(self, license_id: str, metric: str, quantity: Any = 1, **fields: Any) -> str:
        self.calls.append({"license_id": license_id, "metric": metric, "quantity": quantity, **fields})
        return self.meter.record(license_id, metric, quantity, **fields)

    def instrument(self, client: Any, license_id: str, **fields: Any) -> Any:
        from meterstream.producers.instrument import instrument
        return instrument(self, client, license_id, **fields)  # type: ignore[arg-type]

    def metrics(self) -> dict[str, Any]:
        return {c["metric"]: c["quantity"] for c in self.calls}


@pytest.fixture(scope="module")
def api() -> Iterator[FakeLlmApi]:
    server = FakeLlmApi()
    yield server
    server.stop()


@pytest.fixture
def rec(offline_meter: Callable[..., Meter]) -> Recorded:
    return Recorded(offline_meter())


def oa(api: FakeLlmApi, cls: Any = None) -> Any:
    return (cls or openai.OpenAI)(base_url=f"{api.url}/v1", api_key="test", max_retries=0)


def an(api: FakeLlmApi, cls: Any = None) -> Any:
    return (cls or anthropic.Anthropic)(base_url=api.url, api_key="test", max_retries=0)


CHAT = {"input_tokens": 120, "output_tokens": 30, "cached_input_tokens": 100, "reasoning_tokens": 10}
ANTHROPIC = {"input_tokens": 362, "output_tokens": 42, "cached_input_tokens": 300, "cache_creation_input_tokens": 50}


def test_openai_chat_records_tokens_provider_model_and_latency(api: FakeLlmApi, rec: Recorded) -> None:
    client = rec.instrument(oa(api), "lic-1", team="search", use_case="uc-1")
    answer = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert answer.choices[0].message.content == "hello"
    assert rec.metrics() == CHAT
    first = rec.calls[0]
    assert (first["provider"], first["model"], first["model_version"], first["source"], first["feature"]) == \
        ("openai", "gpt-4o", "gpt-4o-2024-08-06", "openai-sdk", "chat")
    assert first["status"] == "ok" and first["latency_us"] > 0 and first["team"] == "search"


def test_openai_chat_stream_takes_usage_from_the_last_chunk(api: FakeLlmApi, rec: Recorded) -> None:
    client = rec.instrument(oa(api), "lic-1")
    stream = client.chat.completions.create(model="gpt-4o", messages=[], stream=True)
    assert rec.calls == []  # nothing before the stream ends
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "hello" and rec.metrics() == CHAT


def test_openai_responses_and_embeddings_sync_and_stream(api: FakeLlmApi, rec: Recorded) -> None:
    client = rec.instrument(oa(api), "lic-1")
    client.responses.create(model="o4-mini", input="hi")
    for _ in client.responses.create(model="o4-mini", input="hi", stream=True):
        pass
    client.embeddings.create(model="text-embedding-3-small", input="hi")
    got = [(c["metric"], c["quantity"], c["feature"]) for c in rec.calls]
    responses = [("input_tokens", 50, "chat"), ("output_tokens", 40, "chat"), ("cached_input_tokens", 20, "chat"),
                 ("reasoning_tokens", 25, "chat")]
    assert got == responses + responses + [("input_tokens", 8, "embeddings")]


def test_openai_error_is_recorded_and_reraised_unchanged(api: FakeLlmApi, rec: Recorded) -> None:
    client = rec.instrument(oa(api), "lic-1")
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="no-such-model", messages=[])
    assert info.value.status_code == 404
    assert [(c["metric"], c["quantity"], c["status"], c["model"]) for c in rec.calls] == \
        [("inferences", 1, "error", "no-such-model")]


def test_openai_async_plain_and_stream(api: FakeLlmApi, rec: Recorded) -> None:
    async def run() -> None:
        client = rec.instrument(oa(api, openai.AsyncOpenAI), "lic-2")
        await client.chat.completions.create(model="gpt-4o", messages=[])
        stream = await client.chat.completions.create(model="gpt-4o", messages=[], stream=True)
        async for _ in stream:
            pass
        with pytest.raises(openai.NotFoundError):
            await client.chat.completions.create(model="no-such-model", messages=[])
        await client.close()
    asyncio.run(run())
    assert [c["metric"] for c in rec.calls] == list(CHAT) * 2 + ["inferences"]
    assert rec.calls[-1]["status"] == "error"


def test_anthropic_counts_cache_inside_input_as_otel_does(api: FakeLlmApi, rec: Recorded) -> None:
    client = rec.instrument(an(api), "lic-3", stage="generate")
    msg = client.messages.create(model="claude-sonnet-4-5", max_tokens=100, messages=[{"role": "user", "content": "hi"}])
    assert msg.content[0].text == "hello"
    assert rec.metrics() == ANTHROPIC
    assert {(c["provider"], c["model_version"], c["source"], c["stage"]) for c in rec.calls} == \
        {("anthropic", "claude-sonnet-4-5-20250929", "anthropic-sdk", "generate")}


def test_anthropic_stream_sync_and_async_and_error(api: FakeLlmApi, rec: Recorded) -> None:
    client = rec.instrument(an(api), "lic-3")
    with client.messages.create(model="claude-sonnet-4-5", max_tokens=10, messages=[], stream=True) as stream:
        kinds = [event.type for event in stream]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert rec.metrics() == ANTHROPIC

    async def run() -> None:
        aclient = rec.instrument(an(api, anthropic.AsyncAnthropic), "lic-4")
        stream = await aclient.messages.create(model="claude-sonnet-4-5", max_tokens=10, messages=[], stream=True)
        async for _ in stream:
            pass
        with pytest.raises(anthropic.NotFoundError):
            await aclient.messages.create(model="no-such-model", max_tokens=10, messages=[])
        await aclient.close()
    asyncio.run(run())
    later = [c for c in rec.calls if c["license_id"] == "lic-4"]
    assert {c["metric"]: c["quantity"] for c in later[:-1]} == ANTHROPIC
    assert (later[-1]["metric"], later[-1]["status"]) == ("inferences", "error")


def test_instrumenting_twice_or_a_foreign_client_is_refused(api: FakeLlmApi, rec: Recorded) -> None:
    client = rec.instrument(oa(api), "lic-1")
    with pytest.raises(ValueError, match="already instrumented"):
        rec.instrument(client, "lic-1")
    with pytest.raises(TypeError, match="supported clients"):
        rec.instrument(object(), "lic-1")
    other = oa(api)  # a second client is not metered by the first one's hooks
    other.chat.completions.create(model="gpt-4o", messages=[])
    assert rec.calls == []


def test_meter_instrument_is_the_entry_point(api: FakeLlmApi, offline_meter: Callable[..., Meter]) -> None:
    meter = offline_meter()
    client = meter.instrument(oa(api), "lic-9")
    client.chat.completions.create(model="gpt-4o", messages=[])
    assert meter.buffered() == 4

"""The hooks' promise that metering never breaks the caller's call, with a response of a shape the
usage reader does not know (an SDK upgrade): the call returns normally and still counts once."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Callable

from meterstream.producers import Meter
from meterstream.producers.genai_usage import CallUsage
from meterstream.producers.instrument.hooks import CallRecorder, Operation, patch


class Collector:
    """Reads ``item.usage.input_tokens``; raises AttributeError on items without it."""

    def __init__(self) -> None:
        self.tokens = 0

    def observe(self, item: Any) -> None:
        self.tokens += item.usage.input_tokens

    def usage(self, model: str) -> CallUsage:
        return CallUsage(model=model, input_tokens=self.tokens)


def _read(response: Any, model: str) -> CallUsage:
    return CallUsage(model=model, input_tokens=response.usage.input_tokens)


class Api:
    """A client resource whose answers have whatever shape the test gives."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer

    def create(self, **kwargs: Any) -> Any:
        return iter(self.answer) if kwargs.get("stream") else self.answer


def _client(answer: Any, meter: Meter) -> tuple[Any, CallRecorder, list[dict[str, Any]]]:
    calls: list[dict[str, Any]] = []
    real = meter.record

    def record(license_id: str, metric: str, quantity: Any = 1, **fields: Any) -> str:
        calls.append({"metric": metric, "quantity": quantity, **fields})
        return real(license_id, metric, quantity, **fields)

    meter.record = record  # type: ignore[method-assign]
    client = SimpleNamespace(api=Api(answer))
    recorder = CallRecorder(meter, "lic-1", provider="openai", source="openai-sdk")
    patch(client, Operation("api", "create", "chat", _read, stream=Collector), recorder)
    return client, recorder, calls


def test_a_response_of_unknown_shape_returns_and_counts_as_one_inference(
        offline_meter: Callable[..., Meter]) -> None:
    answer = SimpleNamespace(text="hello")  # no .usage
    client, recorder, calls = _client(answer, offline_meter())
    assert client.api.create(model="m1") is answer
    assert [(c["metric"], c["quantity"], c["model"]) for c in calls] == [("inferences", 1, "m1")]
    assert recorder.failures == 1


def test_a_stream_item_of_unknown_shape_flows_through_and_the_call_counts_once(
        offline_meter: Callable[..., Meter]) -> None:
    items = [SimpleNamespace(usage=SimpleNamespace(input_tokens=5)), SimpleNamespace(delta="x"),
             SimpleNamespace(usage=SimpleNamespace(input_tokens=7))]
    client, _, calls = _client(items, offline_meter())
    assert list(client.api.create(model="m1", stream=True)) == items
    assert [(c["metric"], c["quantity"]) for c in calls] == [("inferences", 1)]


def test_readable_answers_are_counted_in_full(offline_meter: Callable[..., Meter]) -> None:
    items = [SimpleNamespace(usage=SimpleNamespace(input_tokens=5))] * 2
    client, recorder, calls = _client(items, offline_meter())
    list(client.api.create(model="m1", stream=True))
    client.api.answer = SimpleNamespace(usage=SimpleNamespace(input_tokens=3))
    client.api.create(model="m1")
    assert [(c["metric"], c["quantity"]) for c in calls] == [("input_tokens", 10), ("input_tokens", 3)]
    assert recorder.failures == 0



"""Wrapping a client's API method so that each call records its usage, streaming included.

A wrapped method calls the original with the caller's arguments, measures its
latency and records a :class:`CallUsage` when the answer is complete: at once
for a plain response, when a stream is exhausted or closed for a streaming one
(usage comes in its final chunk or message). A call that raises is recorded
with ``status="error"`` and the client's exception is re-raised unchanged.
Metering never breaks the call: a failure to record is logged, not raised.
"""

from __future__ import annotations

import functools
import inspect
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Protocol

from ..errors import ProducerError
from ..genai_usage import CallUsage, current_trace_id, record_usage

if TYPE_CHECKING:
    from ..meter import Meter

log = logging.getLogger(__name__)


class StreamUsage(Protocol):
    """Collects the usage of a stream from its items."""

    def observe(self, item: Any) -> None: ...

    def usage(self, model: str) -> CallUsage: ...


@dataclass(frozen=True)
class Operation:
    """One API method to meter: where it is, its OTel operation name and how to read its usage."""

    path: str  # attribute path from the client, e.g. "chat.completions"
    method: str
    operation: str
    usage: Callable[[Any, str], CallUsage]  # (response, requested model) -> usage
    stream: Callable[[], StreamUsage] | None = None
    prepare: Callable[[dict[str, Any]], None] = lambda kwargs: None  # adjust the call's arguments


@dataclass
class CallRecorder:
    """Records calls for one license with fixed fields; never raises."""

    meter: "Meter"
    license_id: str
    provider: str
    source: str
    fields: dict[str, Any] = field(default_factory=dict)
    failures: int = 0

    def record(self, usage: CallUsage, operation: str, started_ns: int, ok: bool = True) -> None:
        usage.provider = usage.provider or self.provider
        usage.operation = usage.operation or operation
        usage.latency_us = (time.perf_counter_ns() - started_ns) // 1000
        if not ok:
            usage.status = "error"
        fields = {"source": self.source, **self.fields}
        if "trace_id" not in fields and (trace := current_trace_id()) is not None:
            fields["trace_id"] = trace
        try:
            record_usage(self.meter, self.license_id, usage, **fields)
        except ProducerError:
            self.failures += 1
            log.exception("could not record the usage of a %s call", self.provider)

    def usage_of(self, read: Callable[[Any, str], CallUsage], response: Any, model: str) -> CallUsage:
        """The usage ``read`` finds in ``response``; a response of a shape it cannot read still counts
        as one inference of ``model`` (logged), so neither the call nor its metering is lost."""
        try:
            return read(response, model)
        except Exception:  # noqa: BLE001 - any SDK shape change must not break the caller's call
            self.failures += 1
            log.exception("could not read the usage of a %s response; counted as one inference", self.provider)
            return CallUsage(model=model)


class MeteredStream:
    """A client's stream, passed through item by item; records the usage once, when it ends or closes."""

    def __init__(self, inner: Any, collector: StreamUsage, done: Callable[[CallUsage, bool], None],
                 model: str) -> None:
        self._inner, self._collector, self._done, self._model = inner, collector, done, model
        self._it: Any = None
        self._finished = False
        self._unreadable = False

    def _finish(self, ok: bool) -> None:
        if not self._finished:
            self._finished = True
            usage = CallUsage(model=self._model)
            if not self._unreadable:
                try:
                    usage = self._collector.usage(self._model)
                except Exception:  # noqa: BLE001 - see _observe
                    log.exception("could not read the usage of a stream; counted as one inference")
            self._done(usage, ok)

    def _observe(self, item: Any) -> None:
        """Feed ``item`` to the collector; an item it cannot read stops collecting (the stream still
        flows, and the call counts as one inference) instead of raising into the caller's loop."""
        if self._unreadable:
            return
        try:
            self._collector.observe(item)
        except Exception:  # noqa: BLE001 - an SDK shape change must not break the caller's stream
            self._unreadable = True
            log.exception("could not read the usage in a stream item; the call counts as one inference")

    def __iter__(self) -> "MeteredStream":
        return self

    def __next__(self) -> Any:
        if self._it is None:
            self._it = iter(self._inner)
        try:
            item = next(self._it)
        except StopIteration:
            self._finish(True)
            raise
        except BaseException:
            self._finish(False)
            raise
        self._observe(item)
        return item

    def close(self) -> None:
        self._finish(True)
        self._inner.close()

    def __enter__(self) -> "MeteredStream":
        return self

    def __exit__(self, *exc: Any) -> None:
        self._finish(exc[0] is None)
        self._inner.close()

    def __getattr__(self, name: str) -> Any:  # response, headers... of the client's stream
        return getattr(self._inner, name)


class AsyncMeteredStream(MeteredStream):
    """MeteredStream for an async client's stream."""

    def __aiter__(self) -> "AsyncMeteredStream":
        return self

    async def __anext__(self) -> Any:
        if self._it is None:
            self._it = self._inner.__aiter__()
        try:
            item = await self._it.__anext__()
        except StopAsyncIteration:
            self._finish(True)
            raise
        except BaseException:
            self._finish(False)
            raise
        self._observe(item)
        return item

    async def aclose(self) -> None:
        self._finish(True)
        await self._inner.close()

    async def __aenter__(self) -> "AsyncMeteredStream":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self._finish(exc[0] is None)
        await self._inner.close()


def _resolve(client: Any, path: str) -> Any:
    target = client
    for part in path.split("."):
        target = getattr(target, part)
    return target


def patch(client: Any, op: Operation, recorder: CallRecorder) -> None:
    """Replace ``client.<path>.<method>`` on this client's resource object (no other client is touched)."""
    owner = _resolve(client, op.path)
    original = getattr(owner, op.method)
    if getattr(original, "__meterstream_wrapped__", False):
        raise ValueError(f"{op.path}.{op.method} of this client is already instrumented")
    # The SDKs' async methods are wrapped by sync decorators that return a coroutine: ask the class too.
    is_async = inspect.iscoroutinefunction(original) or type(owner).__name__.startswith("Async")
    wrapper = _async_wrapper(original, op, recorder) if is_async else _sync_wrapper(original, op, recorder)
    wrapper.__meterstream_wrapped__ = True  # type: ignore[attr-defined]
    setattr(owner, op.method, wrapper)


def _start(op: Operation, kwargs: dict[str, Any]) -> tuple[str, bool, int]:
    streaming = bool(kwargs.get("stream")) and op.stream is not None
    if streaming:
        op.prepare(kwargs)
    return str(kwargs.get("model", "")), streaming, time.perf_counter_ns()


def _sync_wrapper(original: Callable[..., Any], op: Operation, recorder: CallRecorder) -> Callable[..., Any]:
    @functools.wraps(original)
    def call(*args: Any, **kwargs: Any) -> Any:
        model, streaming, started = _start(op, kwargs)
        try:
            result = original(*args, **kwargs)
        except BaseException:
            recorder.record(CallUsage(model=model), op.operation, started, ok=False)
            raise
        if streaming:
            assert op.stream is not None
            return MeteredStream(result, op.stream(), lambda u, ok: recorder.record(u, op.operation, started, ok),
                                 model)
        recorder.record(recorder.usage_of(op.usage, result, model), op.operation, started)
        return result
    return call


def _async_wrapper(original: Callable[..., Any], op: Operation, recorder: CallRecorder) -> Callable[..., Any]:
    @functools.wraps(original)
    async def call(*args: Any, **kwargs: Any) -> Any:
        model, streaming, started = _start(op, kwargs)
        try:
            result = await original(*args, **kwargs)
        except BaseException:
            recorder.record(CallUsage(model=model), op.operation, started, ok=False)
            raise
        if streaming:
            assert op.stream is not None
            return AsyncMeteredStream(result, op.stream(),
                                      lambda u, ok: recorder.record(u, op.operation, started, ok), model)
        recorder.record(recorder.usage_of(op.usage, result, model), op.operation, started)
        return result
    return call

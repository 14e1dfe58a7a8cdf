"""Timing an inference: ``with meter.timed(...)``, ``async with``, or as a decorator.

The event is recorded when the block ends, with ``latency_us`` measured
around it and ``status`` "ok", or "error" when the block raised (the
exception is re-raised). Output-based metrics are set inside the block:
``call.quantity = len(tokens)``, ``call.output = text``.
"""

from __future__ import annotations

import functools
import inspect
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any, Callable, TypeVar

if TYPE_CHECKING:
    from .meter import Meter

F = TypeVar("F", bound=Callable[..., Any])


class Timed:
    """One timed call; reusable as a decorator (each call of the function is timed anew)."""

    def __init__(self, meter: "Meter", license_id: str, metric: str, quantity: Any,
                 fields: dict[str, Any]) -> None:
        self.meter = meter
        self.license_id = license_id
        self.metric = metric
        self.quantity = quantity
        self.fields = dict(fields)
        self.output: bytes | str | None = None
        self.event_id: str | None = None
        self._started = 0

    def __enter__(self) -> "Timed":
        self._started = time.perf_counter_ns()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._finish(exc_type is None)

    async def __aenter__(self) -> "Timed":
        return self.__enter__()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        latency = (time.perf_counter_ns() - self._started) // 1000
        self.event_id = await self.meter.arecord(self.license_id, self.metric, self.quantity,
                                                 **self._fields(exc_type is None, latency))

    def _fields(self, ok: bool, latency_us: int) -> dict[str, Any]:
        fields = {**self.fields, "status": "ok" if ok else "error", "latency_us": latency_us}
        if self.output is not None:
            fields["output"] = self.output
        return fields

    def _finish(self, ok: bool) -> None:
        latency = (time.perf_counter_ns() - self._started) // 1000
        self.event_id = self.meter.record(self.license_id, self.metric, self.quantity,
                                          **self._fields(ok, latency))

    def _fresh(self) -> "Timed":
        return Timed(self.meter, self.license_id, self.metric, self.quantity, self.fields)

    def __call__(self, fn: F) -> F:
        """Decorate a function or coroutine function: every call is timed and recorded."""
        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def awrapper(*args: Any, **kwargs: Any) -> Any:
                async with self._fresh():
                    return await fn(*args, **kwargs)
            return awrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self._fresh():
                return fn(*args, **kwargs)
        return wrapper  # type: ignore[return-value]

"""The producer library's entry point: ``Meter.record()`` meters one call.

The caller's thread validates the event, takes an event id and appends one
row to its license's buffer: nothing else. A background thread
(:mod:`.flusher`) batches per license, writes each batch ahead to the on-disk
spool and produces it with an idempotent Kafka producer (acks=all); the spool
replays whatever Kafka did not acknowledge.
"""

from __future__ import annotations

import asyncio
import atexit
import inspect
import logging
import os
import socket
import threading
import time
from decimal import Decimal
from types import TracebackType
from typing import Any, Callable, Sequence, TypeVar

from meterstream.errors import ConfigError

from .batch import ROW_WIDTH, BatchBuilder
from .check import CheckResult, QuotaClient
from .validate import KeyedCalls, LicenseClient, _context
from .delivery import Delivery
from .errors import DurabilityTimeoutError, InvalidEventError, MeterClosedError, ProducerError, SpoolFullError
from .event import (MAX_WHOLE, METRICS, SCALE, SCALE_DIGITS, check_categories, check_event_id, check_event_time,
                    check_hash, check_id, check_latency, check_metric, check_status, check_text, payload_hash,
                    unscaled_quantity)
from .flusher import Flusher, FlusherStats
from .protect import offline
from .ids import LOW_BITS, LOW_HEX, LOW_MASK, EventIds
from .settings import ProducerSettings
from .spool import open_spool
from .timing import Timed

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])
_time_ns = time.time_ns
_TEXT_FIELDS = ("feature", "model_version", "team", "app", "environment", "purpose", "hardware_id", "region",
                "provider", "source", "use_case", "sensitivity")


class _KeywordsOnly:
    """Type of the marker that keeps ``record()``'s optional fields keyword-only (see there)."""

    def __repr__(self) -> str:
        return "<keywords only>"


# record()'s optional fields are keyword-only by this marker, not by a bare ``*``: CPython fills each
# absent keyword-only parameter from a dict lookup (~4 ns each, ~0.1 µs for record()'s 27) but absent
# positional ones from a tuple. A fourth positional argument lands in the marker's place and is refused
# (and mypy refuses it: it is not a _KeywordsOnly); the signature shown to help() and inspect is the
# keyword-only one (set below the class).
KEYWORDS_ONLY = _KeywordsOnly()


def _check_quantity(quantity: Any) -> Decimal:
    """A pre-check quantity, validated like an event's (InvalidEventError naming 'quantity')."""
    return Decimal(unscaled_quantity(quantity)).scaleb(-SCALE_DIGITS).normalize()


class Meter(KeyedCalls):
    """Records usage events and ships them to Kafka in per-license batches; validates and reserves by key."""

    def __init__(self, settings: ProducerSettings | None = None, **overrides: Any) -> None:
        base = settings or ProducerSettings()
        unknown = sorted(set(overrides) - set(ProducerSettings.model_fields))
        if unknown:
            raise ConfigError(f"unknown producer settings: {', '.join(unknown)}")
        s = base.model_validate({**base.model_dump(), **overrides}) if overrides else base
        self.settings = s = offline.with_machine_identity(s)
        for name in _TEXT_FIELDS + ("model",):
            check_text(name, getattr(s, name))
        check_categories(s.data_categories)
        self.producer_id = s.producer_id or f"{socket.gethostname()}-{os.getpid()}-{os.urandom(4).hex()}"
        check_text("producer_id", self.producer_id, required=True)
        self._ids = EventIds()
        self._id_counter = self._ids.counter
        self._queues: dict[str, list[Any]] = {}  # per license: rows stored flat (see batch.py)
        self._valid: set[str] = set()  # strings already validated as identifiers
        self._new_lock = threading.Lock()
        self._closed = False
        self._strict = s.fsync == "always"
        self._model_required = not s.model
        self._max_payload = s.max_payload_bytes
        self._wake = threading.Event()
        self._force_until = 0.0  # flush(): the flusher takes every buffer until then, due or not
        self.spool = open_spool(s)
        try:
            chain = offline.chain_for(s, self.spool.directory)
        except Exception:
            self.spool.close()
            raise
        self._flusher = Flusher(s, self._queues, BatchBuilder(s, self.producer_id), self.spool, Delivery(s), chain)
        self._quota = QuotaClient(s)
        self._licenses = LicenseClient(s)
        self._thread = threading.Thread(target=self._run, name="meterstream-flusher", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    # -- caller side -------------------------------------------------------

    def record(self, license_id: str, metric: str, quantity: Any = 1,
               _keywords_only: _KeywordsOnly = KEYWORDS_ONLY,
               feature: str | None = None, model: str | None = None, model_version: str | None = None,
               team: str | None = None, app: str | None = None, environment: str | None = None,
               purpose: str | None = None, hardware_id: str | None = None, region: str | None = None,
               input: bytes | str | None = None, output: bytes | str | None = None,
               input_hash: str | None = None, output_hash: str | None = None,
               status: str = "ok", latency_us: int | None = None,
               event_time_us: int | None = None, event_id: str | None = None,
               provider: str | None = None, source: str | None = None, user_id: str | None = None,
               use_case: str | None = None, data_categories: Sequence[str] | None = None,
               sensitivity: str | None = None, trace_id: str | None = None, stage: str | None = None,
               decision_id: str | None = None, reservation_id: str | None = None) -> str:
        """Validate and enqueue one event; return its event id.

        Raises InvalidEventError (nothing enqueued), SpoolFullError (spool and
        buffer full: not accepted), MeterClosedError; in strict mode
        (``fsync="always"``) returns only once the event is fsynced to the spool.
        """
        if _keywords_only is not KEYWORDS_ONLY:
            raise TypeError("record() takes 3 positional arguments (license_id, metric, quantity); "
                            "give the others by keyword")
        try:
            q = self._queues.get(license_id)
            if q is None:
                q = self._new_license(license_id)
            if metric not in METRICS:
                check_metric(metric)
            if type(quantity) is int and 0 <= quantity <= MAX_WHOLE:  # unscaled_quantity's fast path, inline
                quantity *= SCALE
            else:
                quantity = unscaled_quantity(quantity)
            valid = self._valid
            if model is not None:
                if not model or model not in valid:
                    self._check_text("model", model, required=True)
            elif self._model_required:
                raise InvalidEventError("model", "is required (no default model in the settings)")
            # Unrolled on purpose: a loop over (name, value) pairs costs ~0.5 µs per call.
            if feature is not None and feature not in valid:
                self._check_text("feature", feature)
            if model_version is not None and model_version not in valid:
                self._check_text("model_version", model_version)
            if team is not None and team not in valid:
                self._check_text("team", team)
            if app is not None and app not in valid:
                self._check_text("app", app)
            if environment is not None and environment not in valid:
                self._check_text("environment", environment)
            if purpose is not None and purpose not in valid:
                self._check_text("purpose", purpose)
            if hardware_id is not None and hardware_id not in valid:
                self._check_text("hardware_id", hardware_id)
            if region is not None and region not in valid:
                self._check_text("region", region)
        except TypeError:  # an unhashable value (list, dict...) where a string belongs
            if type(metric) is not str:
                check_metric(metric)
            self._refuse_unhashable(license_id=license_id, feature=feature, model=model,
                                    model_version=model_version, team=team, app=app, environment=environment,
                                    purpose=purpose, hardware_id=hardware_id, region=region)
            raise
        if status != "ok":
            check_status(status)
        if latency_us is not None and (type(latency_us) is not int or latency_us < 0):
            check_latency(latency_us)
        if input is not None:
            input_hash = payload_hash("input", input, self._max_payload)
        elif input_hash is not None:
            check_hash("input_hash", input_hash)
        if output is not None:
            output_hash = payload_hash("output", output, self._max_payload)
        elif output_hash is not None:
            check_hash("output_hash", output_hash)
        if event_time_us is None:
            event_time = _time_ns()  # the row holds nanoseconds: the division waits for the batch (batch.py)
        else:
            event_time = check_event_time(event_time_us) * 1000
        if self._closed:
            raise MeterClosedError("meter is closed")
        if (provider is None and source is None and user_id is None and use_case is None
                and data_categories is None and sensitivity is None and trace_id is None and stage is None
                and decision_id is None and reservation_id is None):
            extra = None  # the usual call: no v2 field, one empty slot in the row (see batch.py)
        else:
            extra = self._extra(provider, source, user_id, use_case, data_categories, sensitivity, trace_id,
                                stage, decision_id, reservation_id)
        if event_id is None:
            n = next(self._id_counter)  # atomic under the GIL; EventIds.fast() inlined (hot path)
            key, head = self._ids.high
            eid = head + LOW_HEX[n & LOW_MASK] if key == n >> LOW_BITS else self._ids.format(n)
        else:
            eid = check_event_id(event_id)
        row = (eid, event_time, metric, quantity, feature, model, model_version, status, latency_us, team,
               app, environment, purpose, hardware_id, region, input_hash, output_hash, extra)
        if self._flusher.spool_full or self._strict:
            self._append_slow(q, row)
        else:
            q.extend(row)  # atomic under the GIL: the flusher never sees half a row
        return eid

    def _extra(self, provider: Any, source: Any, user_id: Any, use_case: Any, data_categories: Any,
               sensitivity: Any, trace_id: Any, stage: Any, decision_id: Any,
               reservation_id: Any) -> tuple[Any, ...]:
        """The v2 fields of one call, validated, as the row's ``extra`` tuple (EXTRA_FIELDS order)."""
        tags = {"provider": provider, "source": source, "user_id": user_id, "use_case": use_case,
                "sensitivity": sensitivity, "stage": stage}
        for name, value in tags.items():
            if value is not None and (type(value) is not str or value not in self._valid):
                self._check_text(name, value)
        for name, value in (("trace_id", trace_id), ("decision_id", decision_id),
                            ("reservation_id", reservation_id)):
            if value is not None:
                check_id(name, value)
        categories = None if data_categories is None else check_categories(data_categories)
        return (provider, source, user_id, use_case, categories, sensitivity, trace_id, stage, decision_id,
                reservation_id)

    @staticmethod
    def _refuse_unhashable(**fields: Any) -> None:
        for name, value in fields.items():
            if value is not None:
                check_text(name, value)

    def _check_text(self, name: str, value: Any, required: bool = False) -> None:
        check_text(name, value, required=required)
        if len(self._valid) > 100_000:
            self._valid.clear()
        self._valid.add(value)

    def _new_license(self, license_id: Any) -> list[Any]:
        check_text("license_id", license_id, required=True)
        with self._new_lock:
            return self._queues.setdefault(license_id, [])

    def _append_slow(self, q: list[Any], row: tuple[Any, ...]) -> None:
        """Spool full (refuse when the buffer is full too) or strict mode (wait until durable)."""
        f = self._flusher
        if f.spool_full and (self._strict or self.buffered() >= self.settings.buffer_max_events):
            raise SpoolFullError(f"spool {self.spool.directory} is full and {self.buffered()} events wait in "
                                 f"memory: event not accepted (Kafka has been unreachable too long)")
        if not self._strict:
            q.extend(row)
            return
        with f.cond:
            q.extend(row)
            gen = f.generation
        self._wake.set()
        with f.cond:
            durable = f.cond.wait_for(lambda: f.durable_generation > gen or f.spool_full or self._closed,
                                      self.settings.strict_timeout_ms / 1000)
        if durable and f.durable_generation <= gen and f.spool_full:
            raise SpoolFullError(f"spool {self.spool.directory} is full: event {row[0]} is not durable "
                                 f"(it stays in memory and is written when the spool has room)")
        if not durable:
            raise DurabilityTimeoutError(f"event {row[0]} accepted but not durable after "
                                         f"{self.settings.strict_timeout_ms} ms")

    def buffered(self) -> int:
        """Events accepted and not yet written to the spool (they live in memory only)."""
        queued = sum(len(q) for q in list(self._queues.values())) // ROW_WIDTH
        return queued + self._flusher.held_events

    def timed(self, license_id: str, metric: str = "inferences", quantity: Any = 1, **fields: Any) -> Timed:
        """Context manager / decorator timing one inference; records it with status and latency."""
        return Timed(self, license_id, metric, quantity, fields)

    def instrument(self, client: Any, license_id: str, **fields: Any) -> Any:
        """Meter every call of an official ``openai`` or ``anthropic`` client (sync or async, streaming too);
        returns the client. ``fields`` are ``record()`` keywords (team, use_case, stage...)."""
        from .instrument import instrument
        return instrument(self, client, license_id, **fields)

    def check(self, license_id: str, feature: str, quantity: Any = 1, *, metric: str = "inferences",
              model: str | None = None, model_version: str | None = None, **context: Any) -> CheckResult:
        """Ask the quota service whether this use is allowed (cached; short timeout), the policy's blocking
        rules judged on the governance ``context`` as in validate(). Model, version and context default
        from the Meter; a bad argument raises InvalidEventError naming it."""
        check_metric(metric)
        return self._quota.check(license_id, feature, _check_quantity(quantity), metric,
                                 model or self.settings.model or None, model_version or self.settings.model_version or None,
                                 self._governance(_context(context)))

    async def acheck(self, license_id: str, feature: str, quantity: Any = 1, *, metric: str = "inferences",
                     model: str | None = None, model_version: str | None = None, **context: Any) -> CheckResult:
        """check() for asyncio: the HTTP request runs in a worker thread, never on the loop."""
        check_metric(metric)
        return await self._quota.acheck(license_id, feature, _check_quantity(quantity), metric,
                                        model or self.settings.model or None,
                                        model_version or self.settings.model_version or None,
                                        self._governance(_context(context)))

    async def arecord(self, license_id: str, metric: str, quantity: Any = 1, **fields: Any) -> str:
        """record() for asyncio; in strict mode the wait for durability runs off the event loop."""
        if not self._strict:
            return self.record(license_id, metric, quantity, **fields)
        return await asyncio.to_thread(self.record, license_id, metric, quantity, **fields)

    async def aflush(self, timeout: float = 30.0) -> None:
        """flush() for asyncio: waits in a worker thread."""
        await asyncio.to_thread(self.flush, timeout)

    async def aclose(self, timeout: float = 30.0) -> None:
        """close() for asyncio: waits in a worker thread."""
        await asyncio.to_thread(self.close, timeout)

    @property
    def stats(self) -> FlusherStats:
        return self._flusher.stats

    # -- background side ---------------------------------------------------

    def _run(self) -> None:
        tick = max(0.001, min(self.settings.linger_ms / 5000, 0.01))
        while not self._closed:
            self._wake.wait(tick)
            self._wake.clear()
            self._tick(force=self._force_requested())

    def _tick(self, force: bool) -> None:
        try:
            self._flusher.tick(force)
        except Exception:  # noqa: BLE001 - the flusher must survive to keep delivering
            log.exception("meter flusher tick failed")
            time.sleep(0.1)

    def _force_requested(self) -> bool:
        return time.monotonic() < self._force_until

    # -- lifecycle ---------------------------------------------------------

    def flush(self, timeout: float = 30.0) -> None:
        """Send everything buffered and wait until Kafka acknowledged it (or raise ProducerError)."""
        deadline = time.monotonic() + timeout
        f = self._flusher
        while time.monotonic() < deadline:
            self._force_until = time.monotonic() + 1.0
            ticks = f.ticks
            if self._closed or not self._thread.is_alive():
                self._tick(force=True)
            else:
                self._wake.set()
                while f.ticks < ticks + 2 and time.monotonic() < deadline:
                    time.sleep(0.002)
            if f.settled:
                return
            time.sleep(0.005)
        raise ProducerError(f"not acknowledged by Kafka after {timeout}s: {f.unacknowledged} batches in the "
                            f"spool {self.spool.directory} (kept and replayed) and {self.buffered()} events "
                            f"in memory")

    def close(self, timeout: float = 30.0) -> None:
        """Flush and stop; events Kafka did not acknowledge within ``timeout`` stay in the spool."""
        with self._new_lock:
            if self._closed:
                return
            self._closed = True
        self._wake.set()
        self._thread.join(timeout)
        try:
            self.flush(timeout)
        except ProducerError as exc:
            log.warning("%s", exc)
        finally:
            with self._flusher.cond:
                self._flusher.cond.notify_all()
            self.spool.close()
            atexit.unregister(self.close)

    def __enter__(self) -> "Meter":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _keyword_only_signature(fn: Callable[..., Any]) -> inspect.Signature:
    """``fn``'s signature without the marker, every parameter after it keyword-only."""
    sig = inspect.signature(fn)
    params, after = [], False
    for p in sig.parameters.values():
        if p.name == "_keywords_only":
            after = True
            continue
        params.append(p.replace(kind=inspect.Parameter.KEYWORD_ONLY) if after else p)
    return sig.replace(parameters=params)


Meter.record.__signature__ = _keyword_only_signature(Meter.record)  # type: ignore[attr-defined]

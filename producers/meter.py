"""The producer library's entry point: ``Meter.record()`` meters one call.

The caller's thread only validates the event and appends one tuple to its
license's buffer. A background thread turns each license's buffer into one
columnar Avro batch (one Kafka message, keyed by the license) when it holds
``batch_max_events`` events or its oldest event is ``linger_ms`` old, and hands
it to an idempotent confluent-kafka producer (acks=all).
"""

from __future__ import annotations

import atexit
import logging
import os
import socket
import threading
import time
import uuid
from types import TracebackType
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from meterstream.schemas import BatchCodec

from .errors import MeterClosedError, ProducerError
from .event import check_hash, check_status, check_metric, check_text, payload_hash, unscaled_quantity
from .settings import ProducerSettings

log = logging.getLogger(__name__)


class Meter:
    """Records usage events and ships them to Kafka in per-license batches."""

    def __init__(self, settings: ProducerSettings | None = None, **overrides: Any) -> None:
        base = settings or ProducerSettings()
        self.settings = base.model_copy(update=overrides) if overrides else base
        s = self.settings
        self.producer_id = s.producer_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._codec = BatchCodec()
        self._fields = self._codec.schema.field_names
        self._lock = threading.Lock()
        self._buffers: dict[str, list[tuple[Any, ...]]] = {}
        self._first_at: dict[str, float] = {}
        self._seq: dict[str, int] = {}
        self._closed = False
        self._wake = threading.Event()
        self.delivered_events = 0
        self.failed_events = 0
        self._producer = Producer({
            **s.client_config(),
            "enable.idempotence": True,
            "acks": "all",
            "compression.type": s.compression,
            "linger.ms": 5,
            "delivery.timeout.ms": s.delivery_timeout_ms,
            "message.max.bytes": 8 * 1024 * 1024,
        })
        self._thread = threading.Thread(target=self._run, name="meterstream-flusher", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    # -- caller side -------------------------------------------------------

    def record(self, license_id: str, metric: str, quantity: Any = 1, *,
               feature: str | None = None, model: str | None = None, model_version: str | None = None,
               team: str | None = None, app: str | None = None, environment: str | None = None,
               purpose: str | None = None, hardware_id: str | None = None, region: str | None = None,
               input: bytes | str | None = None, output: bytes | str | None = None,
               input_hash: str | None = None, output_hash: str | None = None,
               status: str = "ok", latency_us: int | None = None,
               event_time_us: int | None = None, event_id: str | None = None) -> str:
        """Validate and enqueue one event; return its event id. Raises InvalidEventError."""
        s = self.settings
        row = (
            event_id or str(uuid.uuid4()),
            event_time_us if event_time_us is not None else time.time_ns() // 1000,
            check_text("license_id", license_id, required=True),
            self.producer_id,
            0,  # sequence: assigned under the lock so it matches enqueue order
            check_text("feature", feature if feature is not None else s.feature),
            check_text("model", model if model is not None else s.model, required=True),
            check_text("model_version", model_version if model_version is not None else s.model_version),
            check_metric(metric),
            unscaled_quantity(quantity),
            status if status == "ok" else check_status(status),
            latency_us,
            check_text("team", team if team is not None else s.team),
            check_text("app", app if app is not None else s.app),
            check_text("environment", environment if environment is not None else s.environment),
            check_text("purpose", purpose if purpose is not None else s.purpose),
            check_text("hardware_id", hardware_id if hardware_id is not None else s.hardware_id),
            check_text("region", region if region is not None else s.region),
            payload_hash("input", input) if input is not None else check_hash("input_hash", input_hash),
            payload_hash("output", output) if output is not None else check_hash("output_hash", output_hash),
        )
        with self._lock:
            if self._closed:
                raise MeterClosedError("meter is closed")
            seq = self._seq.get(license_id, 0)
            self._seq[license_id] = seq + 1
            row = row[:4] + (seq,) + row[5:]
            buf = self._buffers.get(license_id)
            if buf is None:
                buf = self._buffers[license_id] = []
                self._first_at[license_id] = time.monotonic()
            buf.append(row)
            full = len(buf) >= s.batch_max_events
        if full:
            self._wake.set()
        return row[0]  # type: ignore[no-any-return]

    # -- background side ---------------------------------------------------

    def _run(self) -> None:
        linger = self.settings.linger_ms / 1000
        while True:
            self._wake.wait(timeout=max(linger / 2, 0.001))
            self._wake.clear()
            closing = self._closed
            self._flush_due(force=closing)
            self._producer.poll(0)
            if closing:
                return

    def _take_due(self, force: bool) -> list[tuple[str, list[tuple[Any, ...]]]]:
        now = time.monotonic()
        linger = self.settings.linger_ms / 1000
        limit = self.settings.batch_max_events
        with self._lock:
            due = [lic for lic, buf in self._buffers.items()
                   if force or len(buf) >= limit or now - self._first_at[lic] >= linger]
            taken = [(lic, self._buffers.pop(lic)) for lic in due]
            for lic in due:
                del self._first_at[lic]
        return taken

    def _flush_due(self, force: bool) -> None:
        limit = self.settings.batch_max_events
        for lic, rows in self._take_due(force):
            for start in range(0, len(rows), limit):
                self._send(lic, rows[start:start + limit])

    def _send(self, license_id: str, rows: list[tuple[Any, ...]]) -> None:
        columns = dict(zip(self._fields, map(list, zip(*rows))))
        value = self._codec.encode(columns)
        n = len(rows)
        while True:
            try:
                self._producer.produce(self.settings.usage, value, license_id.encode(),
                                       on_delivery=lambda err, msg, n=n: self._on_delivery(err, msg, n))
                break
            except BufferError:
                self._producer.poll(0.05)  # local queue full: wait for deliveries, never drop

    def _on_delivery(self, err: KafkaError | None, msg: Message, n: int) -> None:
        if err is None:
            self.delivered_events += n
        else:
            self.failed_events += n
            log.error("delivery of %d events failed: %s", n, err)

    # -- lifecycle ---------------------------------------------------------

    def flush(self, timeout: float = 30.0) -> None:
        """Send everything buffered and wait for Kafka to acknowledge it."""
        self._flush_due(force=True)
        remaining = self._producer.flush(timeout)
        if remaining:
            raise ProducerError(f"{remaining} messages not acknowledged after {timeout}s")

    def close(self, timeout: float = 30.0) -> None:
        """Flush and stop; further record() calls raise MeterClosedError."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._wake.set()
        self._thread.join(timeout)
        self.flush(timeout)
        atexit.unregister(self.close)

    def __enter__(self) -> "Meter":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

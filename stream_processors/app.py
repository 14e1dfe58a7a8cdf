"""The Faust application: usage batches in, per-license totals out, served over HTTP.

Built by ``create_app(settings)`` (nothing happens at import time). Messages
that cannot be decoded go to the usage dead-letter topic with the reason in a
header; they never stop the agent.
"""

from __future__ import annotations

import logging
from typing import Any, AsyncIterator

import faust
from faust.web import Request, Response, View

from meterstream.schemas import BatchCodec
from meterstream.errors import MeterstreamError

from .settings import ProcessorSettings
from .totals import apply_batch, empty_totals

log = logging.getLogger(__name__)


def create_app(settings: ProcessorSettings) -> faust.App:
    """A Faust app wired to the topics and tables named by ``settings``."""
    settings.processor_data_dir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        settings.processor_app_id,
        broker=[f"kafka://{h}" for h in settings.kafka_bootstrap_servers.split(",")],
        store=settings.processor_store,
        datadir=str(settings.processor_data_dir),
        topic_partitions=settings.partitions,
        topic_allow_declare=True,
        web_host=settings.processor_web_host,
        web_port=settings.processor_web_port,
        web_bind=settings.processor_web_host,
        producer_acks=-1,
        consumer_auto_offset_reset="earliest",
        table_cleanup_interval=60.0,
    )
    codec = BatchCodec()
    usage = app.topic(settings.usage, key_type=bytes, value_type=bytes,
                      key_serializer="raw", value_serializer="raw", partitions=settings.partitions)
    dlq = app.topic(settings.usage_dlq, key_type=bytes, value_type=bytes,
                    key_serializer="raw", value_serializer="raw", partitions=settings.partitions)
    totals = app.Table("license_totals", default=None, key_type=str, value_type=None,
                       partitions=settings.partitions)

    @app.agent(usage)
    async def meter_usage(stream: faust.Stream) -> AsyncIterator[Any]:
        async for event in stream.events():
            msg = event.message
            try:
                batch = codec.decode(msg.value, fields=("metric", "quantity", "license_id"))
            except MeterstreamError as exc:
                log.warning("dead-lettering %s[%d]@%d: %s", msg.topic, msg.partition, msg.offset, exc)
                await dlq.send(key=msg.key, value=msg.value, headers={
                    "error": str(exc).encode(), "source": f"{msg.topic}/{msg.partition}/{msg.offset}".encode()})
                continue
            license_id = batch.columns["license_id"][0] if batch.count else (msg.key or b"").decode()
            current = totals.get(license_id) or empty_totals()
            if apply_batch(current, msg.offset, batch.columns["metric"], batch.columns["quantity"]):
                totals[license_id] = current
            yield batch.count

    class AllTotals(View):
        async def get(self, request: Request) -> Response:
            """Totals of the licenses whose partitions this worker holds."""
            return self.json({k: v for k, v in totals.items()})

    class LicenseTotals(View):
        @app.table_route(table=totals, match_info="license_id")
        async def get(self, request: Request, license_id: str) -> Response:
            value = totals.get(license_id)
            if value is None:
                return self.json({"license_id": license_id, "error": "unknown license"}, status=404)
            return self.json({"license_id": license_id, **value})

    app.page("/totals/")(AllTotals)
    app.page("/totals/{license_id}/")(LicenseTotals)
    return app


def run_worker(settings: ProcessorSettings) -> None:
    """Run one worker in this process until SIGTERM/SIGINT."""
    app = create_app(settings)
    worker = faust.Worker(app, loglevel=settings.processor_log_level, quiet=True)
    worker.execute_from_commandline()

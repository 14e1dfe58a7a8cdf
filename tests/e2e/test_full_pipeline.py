"""Every piece together: a license with a hard quota, a service metering through the producer
library, a Faust worker enforcing the quota, the sink writing ClickHouse, and the dispatcher
delivering signed alert webhooks. The pre-check says quota_exceeded once the limit is reached;
each threshold alert lands once in ClickHouse and once at the customer's endpoint."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from meterstream.config import KafkaSettings
from meterstream.process import spawn, terminate, wait_http
from meterstream.producers import Meter
from meterstream.sinks.runner import run_sinks
from meterstream.sinks.settings import SinkSettings
from meterstream.sinks.webhooks.admin import EndpointAdmin
from meterstream.sinks.webhooks.verify import verify
from meterstream.stream_processors.license.admin import LicenseAdmin
from meterstream.stream_processors.license.terms import LicenseTerms, QuotaTerm
from meterstream.stream_processors.quota import Period
from tests.helpers import free_port, wait_for
from tests.sinks.webhooks.conftest import Receiver, receiver  # noqa: F401 - the fixture
from tests.sinks.webhooks.helpers import env as webhook_env
from tests.sinks.webhooks.helpers import settings as webhook_settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LICENSE = "acme-prod-1"
LIMIT = 100  # inferences per day, hard


def _license(admin: LicenseAdmin) -> None:
    terms = LicenseTerms(license_id=LICENSE, tier="pro", tenant="acme", quotas={
        "inferences": QuotaTerm("inferences", LIMIT * 10**6, Period("day"), hard=True, thresholds=(50, 100))})
    admin.create(terms)


def test_quota_enforced_alerted_stored_and_delivered(kafka_env, topics, clickhouse, receiver: Receiver,
                                                      tmp_path: Path) -> None:
    bootstrap, prefix = kafka_env["METERSTREAM_KAFKA_BOOTSTRAP_SERVERS"], topics.topic_prefix
    with LicenseAdmin(KafkaSettings(kafka_bootstrap_servers=bootstrap), topics) as admin:
        _license(admin)
    wh = webhook_settings(bootstrap, prefix, [0.5, 1.0, 2.0])
    endpoints = EndpointAdmin(wh)
    endpoint, secret = endpoints.add(receiver.url(), [LICENSE], [], [])
    endpoints.close()

    port = free_port()
    worker = spawn(["processor"], tmp_path / "processor.log", {
        **kafka_env, "METERSTREAM_PROCESSOR_WEB_PORT": str(port),
        "METERSTREAM_PROCESSOR_DATA_DIR": str(tmp_path / "processor")})
    dispatcher = spawn(["webhook", "dispatch"], tmp_path / "dispatcher.log",
                       webhook_env(bootstrap, prefix, [0.5, 1.0, 2.0]))
    stop = threading.Event()
    sinks = threading.Thread(target=run_sinks, daemon=True, args=(SinkSettings(
        kafka_bootstrap_servers=bootstrap, topic_prefix=prefix, sink_group=kafka_env["METERSTREAM_SINK_GROUP"],
        clickhouse_url=kafka_env["METERSTREAM_CLICKHOUSE_URL"], sink_flush_ms=200), stop))
    sinks.start()
    try:
        wait_http(f"http://127.0.0.1:{port}/totals/", 120, worker)
        with Meter(kafka_bootstrap_servers=bootstrap, topic_prefix=prefix, linger_ms=20,
                   quota_url=f"http://127.0.0.1:{port}", check_cache_ttl_ms=0, check_timeout_ms=2000,
                   check_fail_open=False, spool_dir=tmp_path / "spool", model="llama-3",
                   model_version="3.1.0", team="search", app="assistant") as meter:
            first = wait_for(lambda: _decided(meter, "allow"), 60, what="an allow decision")
            assert first.allowed and first.source == "service"
            for _ in range(LIMIT):
                meter.record(LICENSE, "inferences", 1, feature="chat")
            meter.flush()
            blocked = wait_for(lambda: _decided(meter, "quota_exceeded"), 60, what="quota_exceeded")
            assert not blocked.allowed and blocked.remaining == 0

        expected = {("threshold", 50), ("threshold", 100), ("quota_exhausted", None)}

        def stored() -> set[tuple[str, int | None]] | None:
            rows = clickhouse.query("SELECT kind, threshold FROM alerts FINAL WHERE license_id = {l:String}",
                                    parameters={"l": LICENSE}).result_rows
            got = {(k, t) for k, t in rows}
            return got if expected <= got else None
        wait_for(stored, 90, what="alerts in ClickHouse")
        rows = clickhouse.query("SELECT kind, threshold, count() FROM alerts FINAL WHERE license_id = {l:String} "
                                "GROUP BY kind, threshold", parameters={"l": LICENSE}).result_rows
        assert all(n == 1 for _, _, n in rows), rows

        wait_for(lambda: len(receiver.answered("/hook")) >= len(expected), 90, what="webhook deliveries")
        delivered = receiver.answered("/hook")
        for req in delivered:
            assert verify(secret, req.headers, req.body) == req.webhook_id
        kinds = sorted((r.json()["data"]["kind"], r.json()["data"].get("threshold")) for r in delivered)
        assert len({r.webhook_id for r in delivered}) == len(delivered), "one delivery per alert"
        assert set(kinds) >= expected

        def events() -> tuple[int, int] | None:
            row = tuple(clickhouse.query("SELECT count(), uniqExact(event_id) FROM usage_events WHERE "
                                         "license_id = {l:String}", parameters={"l": LICENSE}).result_rows[0])
            return row if row[0] >= LIMIT else None  # type: ignore[return-value]
        assert wait_for(events, 60, what="usage events in ClickHouse") == (LIMIT, LIMIT)
        logged = wait_for(lambda: clickhouse.query(
            "SELECT count() FROM webhook_deliveries WHERE endpoint_id = {e:String} AND status_code = 200",
            parameters={"e": endpoint.endpoint_id}).result_rows[0][0] >= len(delivered), 60, what="delivery log")
        assert logged
    finally:
        stop.set()
        sinks.join(60)
        terminate(dispatcher)
        terminate(worker)


def _decided(meter: Meter, decision: str):  # type: ignore[no-untyped-def]
    result = meter.check(LICENSE, "chat", 1, metric="inferences")
    return result if result.decision == decision else None

"""The runner's alert and license consumers: records land, redeliveries collapse, garbage is dead-lettered."""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from decimal import Decimal

import pytest
from confluent_kafka import Producer

from meterstream.schemas import RecordCodec
from meterstream.sinks.runner import run_sinks
from meterstream.sinks.settings import SinkSettings
from tests.helpers import wait_for

pytestmark = pytest.mark.integration


def test_alerts_and_licenses_consumers(clickhouse, clickhouse_url, topics, kafka_env, tag) -> None:
    lic = f"lic-{tag}"
    now = datetime(2026, 11, 2, tzinfo=timezone.utc)
    alert = RecordCodec("alert").encode({"alert_id": f"a-{tag}", "kind": "threshold", "license_id": lic,
                                         "team": "t", "threshold": 80, "evidence": {"used": "80"}, "created_at": now})
    license_ = RecordCodec("license").encode({
        "license_id": lic, "updated_at": now, "models": [{"model": "m", "version_rule": "major:3"}],
        "quotas": [{"metric": "input_tokens", "limit": Decimal("10.5"), "period": "month", "hard": True}]})
    p = Producer({"bootstrap.servers": kafka_env["METERSTREAM_KAFKA_BOOTSTRAP_SERVERS"]})
    for topic, value in ((topics.alerts, alert), (topics.alerts, alert), (topics.alerts, b"garbage"),
                         (topics.licenses, license_), (topics.licenses, license_)):
        p.produce(topic, value, lic.encode())
    assert p.flush(30) == 0

    settings = SinkSettings(kafka_bootstrap_servers=kafka_env["METERSTREAM_KAFKA_BOOTSTRAP_SERVERS"],
                            topic_prefix=topics.topic_prefix, sink_group=kafka_env["METERSTREAM_SINK_GROUP"],
                            clickhouse_url=clickhouse_url, sink_consumers="alerts,licenses", sink_flush_ms=200)
    stop = threading.Event()
    t = threading.Thread(target=run_sinks, args=(settings, stop), daemon=True)
    t.start()

    def landed() -> bool:
        a = clickhouse.query("SELECT count() FROM alerts FINAL WHERE license_id = {l:String}",
                             parameters={"l": lic}).result_rows[0][0]
        s = clickhouse.query("SELECT count() FROM license_snapshots FINAL WHERE license_id = {l:String}",
                             parameters={"l": lic}).result_rows[0][0]
        d = clickhouse.query("SELECT count() FROM dead_letters WHERE topic = {t:String}",
                             parameters={"t": topics.alerts}).result_rows[0][0]
        return (a, s, d) == (1, 1, 1)
    try:
        wait_for(landed, 120, what="alerts, license snapshot and dead letter")
    finally:
        stop.set()
        t.join(30)
    assert not t.is_alive()
    row = clickhouse.query("SELECT `quotas.limit`, `models.version_rule`, threshold FROM license_snapshots FINAL "
                           "JOIN (SELECT license_id, threshold FROM alerts FINAL) AS a USING license_id "
                           "WHERE license_id = {l:String}", parameters={"l": lic}).result_rows[0]
    assert row == ([Decimal("10.5")], ["major:3"], 80)

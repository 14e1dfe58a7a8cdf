"""`meterstream sink` on the embedded engine serves the endpoint while it runs, and says where."""

from __future__ import annotations

import threading

import pytest

from meterstream.sinks.query_endpoint import discovery
from meterstream.sinks.query_endpoint.client import endpoint_client, read_client
from meterstream.sinks.runner import run_sinks
from meterstream.sinks.settings import SinkSettings
from tests.helpers import wait_for

pytestmark = pytest.mark.integration


def test_the_running_sink_serves_reads_and_withdraws_on_stop(clickhouse, clickhouse_url, kafka_env, topics) -> None:
    settings = SinkSettings(kafka_bootstrap_servers=kafka_env["METERSTREAM_KAFKA_BOOTSTRAP_SERVERS"],
                            topic_prefix=topics.topic_prefix, sink_group=kafka_env["METERSTREAM_SINK_GROUP"],
                            clickhouse_url=clickhouse_url, sink_consumers="licenses", query_port=0)
    stop = threading.Event()
    t = threading.Thread(target=run_sinks, args=(settings, stop), daemon=True)
    t.start()
    try:
        url = wait_for(lambda: discovery.find(clickhouse_url), 60, what="the endpoint's discovery file")
        assert endpoint_client(url, None).command("SELECT count() > 0 FROM system.tables WHERE name = 'usage_events'")
        assert "query endpoint" in read_client(clickhouse_url)[1]
    finally:
        stop.set()
        t.join(60)
    assert not t.is_alive()
    assert discovery.find(clickhouse_url) is None and not discovery.discovery_file(clickhouse_url).exists()

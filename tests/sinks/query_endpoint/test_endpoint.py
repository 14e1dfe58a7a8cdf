"""The sink's read-only query endpoint, through the real clickhouse-connect HTTP client and plain HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from decimal import Decimal
from typing import Any, Iterator

import pytest
from pydantic import ValidationError

from meterstream.sinks import query_pack
from meterstream.sinks.query_endpoint import discovery
from meterstream.sinks.query_endpoint.client import endpoint_client
from meterstream.sinks.query_endpoint.service import QueryEndpoint
from meterstream.sinks.query_endpoint.settings import QueryEndpointSettings

pytestmark = pytest.mark.integration
TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def endpoint(clickhouse, clickhouse_url: str) -> Iterator[QueryEndpoint]:
    ep = QueryEndpoint(QueryEndpointSettings(query_port=0, query_token=TOKEN, query_timeout_s=1,
                                             query_max_result_bytes=1_000_000), clickhouse_url)
    ep.start()
    yield ep
    ep.stop()


@pytest.fixture(scope="module")
def remote(endpoint: QueryEndpoint) -> Any:
    return endpoint_client(endpoint.url, TOKEN)


def _post(url: str, sql: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, dict[str, str]]:
    request = urllib.request.Request(url, data=sql.encode(), headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


def test_clickhouse_connect_gets_what_the_engine_has(clickhouse, remote, feb_budget) -> None:
    """Native (query), typed parameters, and every query-pack entry give the direct client's answer."""
    sql = "SELECT team, month, amount, currency FROM budgets FINAL WHERE team = {t:String} ORDER BY month"
    direct = clickhouse.query(sql, parameters={"t": feb_budget}).result_rows
    assert remote.query(sql, parameters={"t": feb_budget}).result_rows == direct
    assert direct and direct[0][2] == Decimal("7.25")
    params = {"month": "2024-02-01", "start_month": "2024-01-01", "end_month": "2024-02-01", "top": "5",
              "start": "2024-02-01 00:00:00", "end": "2024-03-01 00:00:00", "license": "x", "metric": "input_tokens"}
    for name in query_pack.names():
        text = query_pack.text(name)
        wanted = {k: params.get(k, _sample(t)) for k, t in query_pack.parameters(text).items()}
        assert query_pack.run(remote, text, wanted)[1] == query_pack.run(clickhouse, text, wanted)[1], name


def _sample(ch_type: str) -> str:
    """A value of a ClickHouse type for a parameter this test has no meaningful value for."""
    if ch_type.startswith("DateTime"):
        return "2024-02-01 00:00:00"
    if ch_type.startswith("Date"):
        return "2024-02-01"
    if "Int" in ch_type or ch_type.startswith(("Float", "Decimal")):
        return "5"
    return "x"


def test_formats_the_client_asks_for_are_the_engines(remote) -> None:
    assert remote.raw_query("SELECT 1 AS x, 'a' AS s FORMAT JSONEachRow") == b'{"x":1,"s":"a"}\n'
    assert remote.raw_query("SELECT toUInt8(7)", fmt="RowBinary") == b"\x07"
    assert remote.command("SELECT 40 + 2") == 42
    assert list(remote.query_df("SELECT number AS n FROM numbers(3)")["n"]) == [0, 1, 2]


def test_reads_only(remote) -> None:
    for statement, code in [("INSERT INTO budgets (team) VALUES ('x')", "164"), ("DROP TABLE budgets", "164"),
                            ("SET max_execution_time = 100", "164"),
                            ("SELECT 1 SETTINGS max_execution_time = 100", "164")]:
        with pytest.raises(Exception, match=f"code: {code}"):
            remote.command(statement)


def test_a_long_query_is_stopped_and_a_large_result_refused(remote) -> None:
    with pytest.raises(Exception, match="code: 159"):
        remote.query("SELECT count() FROM numbers(100000000000)")
    with pytest.raises(Exception, match="code: 396"):
        remote.raw_query("SELECT repeat('x', 1000) FROM numbers(5000) FORMAT TabSeparated")


def test_token_is_required_in_every_form_clients_send_it(endpoint) -> None:
    url = endpoint.url + "/"
    assert _post(url, "SELECT 1")[0] == 401
    assert _post(url, "SELECT 1", {"Authorization": "Bearer wrong"})[0] == 401
    status, _, headers = _post(url + "?password=nope", "SELECT 1")
    assert status == 401 and headers["X-ClickHouse-Exception-Code"] == "516"
    for h in ({"Authorization": f"Bearer {TOKEN}"}, {"X-ClickHouse-Key": TOKEN},
              {"Authorization": "Basic " + __import__("base64").b64encode(f"anyone:{TOKEN}".encode()).decode()}):
        status, body, headers = _post(url, "SELECT 1", h)
        assert (status, body, headers["X-ClickHouse-Format"]) == (200, b"1\n", "TabSeparated")
    with urllib.request.urlopen(endpoint.url + "/ping", timeout=5) as r:
        assert r.read() == b"Ok.\n"


def test_binding_beyond_loopback_needs_a_token() -> None:
    with pytest.raises(ValidationError, match="query_token"):
        QueryEndpointSettings(query_host="0.0.0.0")
    assert QueryEndpointSettings(query_host="0.0.0.0", query_token="t").token() == "t"
    assert QueryEndpointSettings(query_host="::1").query_token is None


def test_discovery_file_names_the_live_endpoint_only(endpoint, clickhouse_url: str) -> None:
    path = discovery.discovery_file(clickhouse_url)
    assert json.loads(path.read_text())["url"] == endpoint.url and oct(path.stat().st_mode)[-3:] == "600"
    assert discovery.find(clickhouse_url) == endpoint.url
    path.write_text(json.dumps({"url": endpoint.url, "pid": 2 ** 22 + 7}))  # a sink killed without stopping
    try:
        assert discovery.find(clickhouse_url) is None
    finally:
        discovery.publish(clickhouse_url, endpoint.url)


def test_sql_command_reads_through_the_endpoint_while_the_store_is_held(endpoint, clickhouse_url, feb_budget) -> None:
    """This test process holds the chDB directory, as a running sink does; `meterstream sql` still answers."""
    env = {**os.environ, "METERSTREAM_CLICKHOUSE_URL": clickhouse_url, "METERSTREAM_QUERY_TOKEN": TOKEN}
    out = subprocess.run([sys.executable, "-m", "meterstream.cli", "sql", "--format", "csv",
                          f"SELECT team, amount FROM budgets FINAL WHERE team = '{feb_budget}'"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["team,amount", f"{feb_budget},7.250000"]


@pytest.fixture(scope="module")
def feb_budget(clickhouse, tmp_path_factory: pytest.TempPathFactory) -> str:
    from meterstream.sinks.budgets import load_budgets
    import uuid

    team = f"ep-{uuid.uuid4().hex[:6]}"
    path = tmp_path_factory.mktemp("budget") / "b.csv"
    path.write_text(f"team,month,amount,currency\n{team},2023-07,7.25,USD\n")  # a month no report test reads
    load_budgets(clickhouse, path)
    return team

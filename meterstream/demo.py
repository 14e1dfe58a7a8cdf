"""``meterstream demo``: the whole pipeline on one machine, on the embedded defaults.

Starts the local Kafka broker (unless one is configured or already running), a
Faust processor worker, and the ClickHouse sink (in this process, because the
embedded engine belongs to one process); sends generated traffic through the
producer library; waits until every event has landed; prints what ClickHouse
and the processor's table hold for this run; stops what it started.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import Any

from .config import DEFAULT_BOOTSTRAP, KafkaSettings, Topics, default_data_dir
from .process import get_json, spawn, terminate, wait_http
from .progress import bar
from .kafka.topics import ensure_topics, pipeline_topics


def _start_broker(keep_running: bool) -> Any:
    from meterstream.infra.kafka import LocalKafka

    if KafkaSettings().kafka_bootstrap_servers != DEFAULT_BOOTSTRAP:
        return None  # the user pointed us at their own cluster
    broker = LocalKafka()
    if broker.is_running():
        print(f"using the Kafka broker already running at {broker.bootstrap_servers}")
        return None
    print("starting Kafka (the first run downloads it from Maven Central)...", flush=True)
    broker.start()
    print(f"Kafka is up at {broker.bootstrap_servers}")
    return None if keep_running else broker


def run_demo(events: int, licenses: int, keep_running: bool = False) -> int:
    from meterstream.producers import Meter
    from meterstream.producers.traffic import generate
    from meterstream.sinks.runner import run_sinks
    from meterstream.sinks.settings import SinkSettings
    from meterstream.stream_processors.settings import ProcessorSettings

    broker = _start_broker(keep_running)
    processor = None
    stop = threading.Event()
    sink_thread = None
    try:
        ensure_topics(KafkaSettings(), pipeline_topics(Topics()))
        _publish_licenses(licenses)
        client = _clickhouse_with_prices(SinkSettings().clickhouse_url)
        psettings = ProcessorSettings()
        port = _free_or(psettings.processor_web_host, psettings.processor_web_port)
        logs = default_data_dir() / "logs"
        processor = spawn(["processor"], logs / "processor.log", {"METERSTREAM_PROCESSOR_WEB_PORT": str(port)})
        base = f"http://{psettings.processor_web_host}:{port}"
        before = wait_http(f"{base}/totals/", 120, processor)
        print(f"processor worker up (log: {logs / 'processor.log'})")

        ssettings = SinkSettings()
        ssettings = ssettings.model_copy(update={"query_port": _free_or(ssettings.query_host, ssettings.query_port)})
        sink_thread = threading.Thread(target=run_sinks, args=(ssettings, stop), name="sink", daemon=True)
        sink_thread.start()

        with Meter() as meter, bar("sending demo traffic", events) as advance:
            started = time.monotonic()
            sent = generate(meter, events, licenses, seed=int(time.time()), progress=advance)
            meter.flush()
            producer_id = meter.producer_id
        print(f"sent {events} events for {licenses} licenses in {time.monotonic() - started:.2f}s")

        landed = _wait_landed(client, producer_id, events, timeout=120)
        after = _wait_totals(base, before, sent.events, timeout=60)
        _report(client, producer_id, sent, before, after, landed)
        _report_alerts(client, list(sent.events))
        ok = landed == events and all(
            after.get(lic, {}).get("events", 0) - before.get(lic, {}).get("events", 0) == n
            for lic, n in sent.events.items())
        print("OK: every event counted once in ClickHouse and in the processor table" if ok
              else "MISMATCH: see above")
        _write_report(client)
        return 0 if ok else 1
    finally:
        stop.set()
        if sink_thread is not None:
            sink_thread.join(30)
        if processor is not None:
            terminate(processor)
        if broker is not None:
            broker.stop()
            print("Kafka stopped")


def _publish_licenses(licenses: int) -> None:
    """Terms for the generated licenses: a monthly soft limit on output tokens, alerting at 50/80/100%."""
    from meterstream.stream_processors.license.admin import LicenseAdmin
    from meterstream.stream_processors.license.terms import LicenseTerms, quota

    terms = [LicenseTerms(f"lic-{i:04d}", tier="pro", tenant="demo", quotas={
        "output_tokens": quota("output_tokens", 50_000, "month", thresholds=(50, 80, 100))})
        for i in range(licenses)]
    with LicenseAdmin() as admin:
        admin.publish_many(terms)
    print(f"published terms for {licenses} licenses (output tokens: 50,000 a month, alerts at 50/80/100%)")


def _clickhouse_with_prices(url: str) -> Any:
    """A client of the sink's ClickHouse, migrated, with the demo price catalog loaded once."""
    from importlib import resources
    from pathlib import Path

    from meterstream.sinks.clickhouse import connect
    from meterstream.sinks.migrations import migrate
    from meterstream.sinks.pricing.catalog import load_catalog

    client = connect(url)
    migrate(client)
    if not int(str(client.command("SELECT count() FROM price_catalog"))):
        with resources.as_file(resources.files("meterstream").joinpath("demo_prices.csv")) as path:
            load_catalog(client, Path(path))
    return client


def _report_alerts(client: Any, licenses: list[str], wait: float = 15.0) -> None:
    """Alerts the processor raised for these licenses this month, as stored by the sink."""
    query = ("SELECT kind, threshold, count() FROM alerts FINAL WHERE license_id IN {l:Array(String)} "
             "AND period = formatDateTime(now(), '%Y-%m') GROUP BY kind, threshold ORDER BY kind, threshold")
    deadline, rows, previous = time.monotonic() + wait, [], None
    while time.monotonic() < deadline:
        rows = client.query(query, parameters={"l": licenses}).result_rows
        if rows and rows == previous:
            break
        previous = rows
        time.sleep(1.5)
    print("\nalerts this month for these licenses (ClickHouse `alerts`):")
    for kind, threshold, n in rows:
        print(f"  {kind:<16} {'' if threshold is None else f'{threshold}%':>5} {n:>5} licenses")
    if not rows:
        print("  none yet")


def _free_or(host: str, port: int) -> int:
    """``port`` if nothing listens there, else any free port (the demo must not clash)."""
    with socket.socket() as s:
        try:
            s.bind((host, port))
            return port
        except OSError:
            s.bind((host, 0))
            return int(s.getsockname()[1])


def _wait_landed(client: Any, producer_id: str, events: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    n = shown = 0
    with bar("landing in ClickHouse", events) as advance:
        while time.monotonic() < deadline:
            n = int(client.query("SELECT count() FROM usage_events FINAL WHERE producer_id = {p:String}",
                                 parameters={"p": producer_id}).result_rows[0][0])
            advance(min(n, events) - shown)
            shown = min(n, events)
            if n >= events:
                break
            time.sleep(1)
    return n


def _write_report(client: Any) -> None:
    """This month's report (what `meterstream report` writes), from the store the demo's sink holds."""
    from meterstream.sinks.reports.period import period
    from meterstream.sinks.reports.report import write_report
    from meterstream.sinks.reports.settings import ReportSettings

    filters = period()
    settings = ReportSettings()
    path = write_report(client, filters, settings.report_dir / filters.slug(), settings.clickhouse_url)
    print(f"\nreport ({filters.label()}): {path}\n  open it in a browser; charts for e-mail in {path.parent / 'charts'}")


def _wait_totals(base: str, before: dict[str, Any], sent: dict[str, int], timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    after: dict[str, Any] = {}
    while time.monotonic() < deadline:
        after = get_json(f"{base}/totals/")
        done = sum(after.get(lic, {}).get("events", 0) - before.get(lic, {}).get("events", 0) for lic in sent)
        if done >= sum(sent.values()):
            break
        time.sleep(0.5)
    return after


def _report(client: Any, producer_id: str, sent: Any, before: dict[str, Any], after: dict[str, Any],
            landed: int) -> None:
    rows = client.query(
        "SELECT license_id, count() AS events, sumIf(quantity, metric = 'input_tokens') AS tin, "
        "sumIf(quantity, metric = 'output_tokens') AS tout, sumIf(quantity, metric = 'gpu_seconds') AS gpu, "
        "uniqExact(model) AS models, sum(cost) AS cost FROM usage_events FINAL WHERE producer_id = {p:String} "
        "GROUP BY license_id ORDER BY events DESC LIMIT 10",
        parameters={"p": producer_id}).result_rows
    print(f"\nClickHouse ({os.environ.get('METERSTREAM_CLICKHOUSE_URL', 'embedded chDB')}): "
          f"{landed} events landed for this run; top licenses:")
    print(f"  {'license':<12} {'events':>7} {'faust':>7} {'in tokens':>10} {'out tokens':>10} {'gpu s':>6} "
          f"{'models':>6} {'cost USD':>10}")
    for lic, n, tin, tout, gpu, models, cost in rows:
        faust_n = after.get(lic, {}).get("events", 0) - before.get(lic, {}).get("events", 0)
        print(f"  {lic:<12} {n:>7} {faust_n:>7} {int(tin):>10} {int(tout):>10} {int(gpu):>6} {models:>6} "
              f"{(cost or 0):>10.4f}")

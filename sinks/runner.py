"""``meterstream sink``: every consumer of the sink in one process, sharing one ClickHouse.

Only one process may open an embedded (chDB) data directory, so all consumers
run here as threads (with the evidence log's checkpointer), each with its own client on the same URL (clients on one
chDB path in one process share the engine), and the read-only query endpoint
(``query_endpoint/``) serves everyone else's reads from here. SIGTERM/SIGINT stop them cleanly:
each writes what it holds and commits before exiting.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Protocol

from clickhouse_connect.driver.client import Client

from meterstream.errors import ConfigError

from .clickhouse import connect
from .evidence.leaf_sql import retire_event_leaves
from .evidence.checkpointer import checkpointer
from .governance_sink import governance_sink
from .migrations import migrate
from .query_endpoint.service import start_endpoint
from .record_sink import alerts_sink, decisions_sink, licenses_sink, releases_sink
from .retention import apply_decisions_retention, apply_retention
from .settings import SinkSettings
from .usage_sink import usage_sink
from .webhooks.delivery_log import delivery_log_sink

log = logging.getLogger(__name__)


class Runnable(Protocol):
    def run(self, stop: threading.Event) -> None: ...


FACTORIES: dict[str, Callable[[SinkSettings, Client], Runnable]] = {
    "usage": usage_sink,
    "alerts": alerts_sink,
    "licenses": licenses_sink,
    "decisions": decisions_sink,
    "releases": releases_sink,
    "webhooks": delivery_log_sink,
    "governance": governance_sink,
}


def run_sinks(settings: SinkSettings, stop: threading.Event) -> None:
    """Start each configured consumer in its own thread; return when all have stopped."""
    names = settings.consumer_names()
    unknown = [n for n in names if n not in FACTORIES]
    if unknown:
        raise ConfigError(f"sink_consumers: unknown consumer(s) {', '.join(unknown)} (known: {', '.join(FACTORIES)})")
    first = connect(settings.clickhouse_url)
    migrate(first)
    apply_retention(first, settings.sink_retention_months)
    apply_decisions_retention(first, settings.sink_decisions_retention_days)
    endpoint = start_endpoint(settings, settings.clickhouse_url)  # reads of the embedded store while we hold it
    retire_event_leaves(first)
    threads: list[threading.Thread] = []
    try:
        runnables: list[tuple[str, Runnable]] = [
            (name, FACTORIES[name](settings, first if name == "usage" else connect(settings.clickhouse_url)))
            for name in names]
        evidence = checkpointer(settings, connect(settings.clickhouse_url))
        if evidence is not None:
            runnables.append(("evidence", evidence))
        for name, sink in runnables:
            t = threading.Thread(target=_guarded, args=(name, sink, stop), name=f"sink-{name}")
            t.start()
            threads.append(t)
    except BaseException:
        stop.set()  # a consumer that cannot start stops the ones already running
        raise
    finally:
        for t in threads:
            t.join()
        if endpoint is not None:
            endpoint.stop()


def _guarded(name: str, sink: Any, stop: threading.Event) -> None:
    """A consumer that dies takes the process down (exit code shows it) instead of silently stopping."""
    try:
        sink.run(stop)
    except Exception:
        log.exception("sink consumer %s failed; stopping the sink", name)
        stop.set()
        raise

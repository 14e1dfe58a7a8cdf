"""Run the query endpoint beside the sink's consumers: its own thread and event loop, found by a discovery file."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from aiohttp import web

from meterstream.errors import ConfigError

from . import discovery
from .engine import ReadOnlyEngine
from .server import build_app
from .settings import QueryEndpointSettings

log = logging.getLogger(__name__)


class QueryEndpoint:
    """Serves the embedded store at ``settings.query_host:query_port`` until ``stop()``."""

    def __init__(self, settings: QueryEndpointSettings, clickhouse_url: str) -> None:
        self.settings = settings
        self.clickhouse_url = clickhouse_url
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> str:
        """Bind (a busy port is a configuration error, said at once), publish the discovery file, return the URL."""
        s = self.settings
        engine = ReadOnlyEngine(self.clickhouse_url[len("chdb://"):], s.query_timeout_s, s.query_max_result_bytes)
        app = build_app(engine, s.token(), engine.timezone(), s.query_concurrency, s.query_timeout_s)
        self._runner = web.AppRunner(app, access_log=None)
        # The loop runs in its own thread from the start: the caller may have an event loop of its own.
        self._thread = threading.Thread(target=self._loop.run_forever, name="query-endpoint", daemon=True)
        self._thread.start()
        try:
            port = self._call(self._bind(self._runner))
        except OSError as exc:
            self.stop()
            raise ConfigError(f"query endpoint: cannot listen on {s.query_host}:{s.query_port} ({exc}); "
                              "set METERSTREAM_QUERY_PORT (0 = any free port)") from exc
        host = f"[{s.query_host}]" if ":" in s.query_host else s.query_host
        self.url = f"http://{host}:{port}"
        discovery.publish(self.clickhouse_url, self.url)
        log.info("query endpoint (read-only) at %s", self.url)
        return self.url

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(30)

    async def _bind(self, runner: web.AppRunner) -> int:
        await runner.setup()
        site = web.TCPSite(runner, self.settings.query_host, self.settings.query_port)
        await site.start()
        return int(runner.addresses[0][1])  # the port bound, also when 0 (any free one) was asked for

    def stop(self) -> None:
        """Withdraw the discovery file first (new clients go elsewhere), then close the server."""
        discovery.withdraw(self.clickhouse_url)
        if self._thread is None or self._runner is None:
            return
        self._call(self._runner.cleanup())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(15)
        self._loop.close()


def start_endpoint(settings: QueryEndpointSettings, clickhouse_url: str) -> QueryEndpoint | None:
    """The endpoint of a sink on the embedded engine (a ClickHouse server has its own); None when off."""
    if not settings.query_endpoint or not clickhouse_url.startswith("chdb://"):
        return None
    endpoint = QueryEndpoint(settings, clickhouse_url)
    endpoint.start()
    return endpoint

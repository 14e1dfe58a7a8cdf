"""``meterstream dashboard``: the report's pages served live, with filters (period, team, license, model).

It reads through the running sink's query endpoint on the embedded engine (it
never opens the store itself, so it cannot keep a sink from starting), or a
ClickHouse server directly. Pages are rendered on the server: no script runs in
the browser. Off loopback it asks for ``dashboard_token`` (HTTP Basic password).
"""

from __future__ import annotations

import asyncio
import html as html_lib
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from aiohttp import web

from meterstream.http_auth import matches, presented
from meterstream.sinks.errors import SinkError

from . import answers, html, pages
from .period import Filters, period
from .settings import ReportSettings


def reader(settings: ReportSettings) -> Callable[[], tuple[Any, str] | None]:
    """A function giving (client, source) for each request, or None while no sink serves the embedded store."""
    from meterstream.sinks.clickhouse import connect
    from meterstream.sinks.query_endpoint import discovery
    from meterstream.sinks.query_endpoint.client import endpoint_client

    url = settings.clickhouse_url
    cache: dict[str, Any] = {}

    def get() -> tuple[Any, str] | None:
        target = discovery.find(url) if url.startswith("chdb://") else url
        if target is None:
            return None
        if target not in cache:
            cache.clear()
            cache[target] = endpoint_client(target, settings.token()) if url.startswith("chdb://") else connect(target)
        return cache[target], target

    return get


def _filters(q: Any) -> Filters:
    scope = {k: q.get(k, "").strip() for k in ("team", "license", "model")}
    return period(q.get("month") or None, q.get("from") or None, q.get("to") or None, **scope)


def _form(f: Filters, options: dict[str, list[str]]) -> str:
    def select(name: str) -> str:
        chosen = getattr(f, name)
        opts = "".join(f'<option value="{html_lib.escape(v)}"{" selected" if v == chosen else ""}>'
                       f"{html_lib.escape(v)}</option>" for v in options.get(name, []))
        return (f'<label>{name}<select name="{name}"><option value="">all</option>{opts}</select></label>')
    last = f.end - timedelta(days=1)
    return (f'<form class="filters" method="get" action="/"><label>from<input type="date" name="from" '
            f'value="{f.start}"></label><label>to (inclusive)<input type="date" name="to_inclusive" '
            f'value="{last}"></label>{select("team")}{select("license")}{select("model")}'
            f'<button type="submit">Show</button></form>')


def build_app(settings: ReportSettings) -> web.Application:
    get_reader = reader(settings)
    pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="dashboard")
    token = settings.dashboard_token.get_secret_value() if settings.dashboard_token else None

    def render(query: dict[str, str]) -> tuple[int, str]:
        found = get_reader()
        if found is None:
            return 503, ("<!DOCTYPE html><html><body><h1>No sink is running</h1><p>The dashboard reads the "
                         "embedded store through the sink's query endpoint: start <code>meterstream sink</code> "
                         "(or <code>meterstream demo --keep-running</code>).</p></body></html>")
        client, source = found
        if query.get("to_inclusive"):  # the form shows the last day; the period's end is exclusive
            query["to"] = str(datetime.fromisoformat(query["to_inclusive"]).date() + timedelta(days=1))
        try:
            f = _filters(query)
        except SinkError as exc:
            return 400, f"<!DOCTYPE html><html><body><p>{html_lib.escape(str(exc))}</p></body></html>"
        built = pages.build(answers.collect(client, f), f)
        form = _form(f, answers.choices(client, f))
        return 200, html.document(built, f, source, datetime.now(timezone.utc), form)

    async def index(request: web.Request) -> web.Response:
        if token is not None and not matches(presented(request.headers), token):
            return web.Response(status=401, text="token required",
                                headers={"WWW-Authenticate": 'Basic realm="meterstream dashboard"'})
        status, body = await asyncio.get_running_loop().run_in_executor(pool, render, dict(request.query))
        return web.Response(status=status, text=body, content_type="text/html")

    async def close(app: web.Application) -> None:
        pool.shutdown(wait=False, cancel_futures=True)

    app = web.Application()
    app.router.add_get("/", index)
    app.on_cleanup.append(close)
    return app


def serve(settings: ReportSettings) -> None:
    """Run until interrupted."""
    web.run_app(build_app(settings), host=settings.dashboard_host, port=settings.dashboard_port,
                print=lambda _: print(f"dashboard at http://{settings.dashboard_host}:{settings.dashboard_port}/ "
                                      "(Ctrl-C stops it)", flush=True))

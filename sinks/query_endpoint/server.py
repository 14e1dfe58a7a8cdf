"""The query endpoint over HTTP: enough of ClickHouse's HTTP interface for clickhouse-connect and curl.

``GET /ping`` answers ``Ok.``; ``GET|POST /`` runs the statement in the
``query`` parameter, the body, or a multipart ``query`` field (as
clickhouse-connect sends it), with ``param_<name>`` query parameters, any other
parameter as a ClickHouse setting, and ``database`` / ``default_format``.
Errors come back as ClickHouse's do: ``Code: N. DB::Exception: ...`` with the
``X-ClickHouse-Exception-Code`` header.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from meterstream.http_auth import matches, presented

from .engine import TRANSPORT, Answer, QueryFailed, ReadOnlyEngine

log = logging.getLogger(__name__)

ENGINE_KEY = web.AppKey("engine", ReadOnlyEngine)
# ClickHouse's HTTP status for some error codes; everything else is 500 (never a status a client retries).
_STATUS = {516: 401, 164: 403, 497: 403, 60: 404, 62: 400, 47: 400, 46: 400, 115: 400, 456: 400, 457: 400}
_CONTENT_TYPE = {"TabSeparated": "text/tab-separated-values; charset=UTF-8", "TSV": "text/tab-separated-values; charset=UTF-8",
                 "CSV": "text/csv; charset=UTF-8", "CSVWithNames": "text/csv; charset=UTF-8"}


def authorized(request: web.Request, token: str | None) -> bool:
    """The token as Bearer, Basic password, X-ClickHouse-Key or ``password`` parameter (clickhouse-connect
    sends one of those), compared in constant time."""
    if token is None:
        return True
    given = presented(request.headers) or request.headers.get("X-ClickHouse-Key") or request.query.get("password") or ""
    return matches(given, token)


def _error(code: int, message: str) -> web.Response:
    return web.Response(status=_STATUS.get(code, 500), text=message.rstrip() + "\n",
                        headers={"X-ClickHouse-Exception-Code": str(code)})


async def _request_fields(request: web.Request) -> tuple[str, dict[str, str]]:
    """The statement and the name=value fields of a request (URL, then multipart form fields)."""
    fields = dict(request.query)
    body = ""
    if request.method == "POST":
        if request.content_type.startswith("multipart/"):
            form = await request.post()
            fields.update({k: v for k, v in form.items() if isinstance(v, str)})
        else:
            body = (await request.read()).decode()
    url_query = fields.pop("query", "")
    sql = "\n".join(s for s in (url_query, body) if s.strip())
    return sql, fields


def _split(fields: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """Query parameters (``param_x``) and engine settings (everything not the HTTP layer's own)."""
    params = {k[6:]: v for k, v in fields.items() if k.startswith("param_")}
    settings = {k: v for k, v in fields.items() if not k.startswith("param_") and k not in TRANSPORT}
    return params, settings


def build_app(engine: ReadOnlyEngine, token: str | None, timezone: str, concurrency: int,
              timeout_s: float) -> web.Application:
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="query-endpoint")
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app[ENGINE_KEY] = engine

    async def ping(request: web.Request) -> web.Response:
        return web.Response(text="Ok.\n")

    async def query(request: web.Request) -> web.Response:
        if not authorized(request, token):
            return _error(516, "Code: 516. DB::Exception: query endpoint: wrong or missing token. (AUTHENTICATION_FAILED)")
        sql, fields = await _request_fields(request)
        if not sql.strip():
            return web.Response(text="Ok.\n")
        params, settings = _split(fields)
        query_id = fields.get("query_id") or str(uuid.uuid4())
        loop = asyncio.get_running_loop()
        try:
            answer: Answer = await asyncio.wait_for(loop.run_in_executor(
                pool, engine.run, sql, params, settings, fields.get("default_format"), fields.get("database")),
                timeout_s + 10)
        except QueryFailed as exc:
            return _error(exc.code, str(exc))
        except asyncio.TimeoutError:
            return _error(159, f"Code: 159. DB::Exception: Timeout exceeded: more than {timeout_s}s. (TIMEOUT_EXCEEDED)")
        return web.Response(body=answer.body, headers={
            "Content-Type": _CONTENT_TYPE.get(answer.fmt, "application/octet-stream"),
            "X-ClickHouse-Format": answer.fmt, "X-ClickHouse-Timezone": timezone,
            "X-ClickHouse-Query-Id": query_id, "X-ClickHouse-Server-Display-Name": "meterstream-sink",
            "X-ClickHouse-Summary": json.dumps(answer.summary)})

    async def close_pool(app: web.Application) -> None:
        pool.shutdown(wait=False, cancel_futures=True)

    app.router.add_get("/ping", ping)
    app.router.add_route("GET", "/", query)
    app.router.add_route("POST", "/", query)
    app.on_cleanup.append(close_pool)
    return app

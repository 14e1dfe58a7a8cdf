"""A minimal webhook receiver for the benchmark, run in its own process: answers 200 and counts.

``python -m tests.benchmarks.webhook_receiver PORT``; ``GET /count`` returns
``{"count": n, "first": t, "last": t}`` (epoch seconds of the first and last POST).
"""

from __future__ import annotations

import sys
import time

from aiohttp import web


def app() -> web.Application:
    state = {"count": 0, "first": 0.0, "last": 0.0}

    async def hook(request: web.Request) -> web.Response:
        await request.read()
        now = time.time()
        state["first"] = state["first"] or now
        state["last"] = now
        state["count"] += 1
        return web.Response(status=204)

    async def count(_: web.Request) -> web.Response:
        return web.json_response(state)

    application = web.Application()
    application.add_routes([web.post("/{tail:.*}", hook), web.get("/count", count)])
    return application


if __name__ == "__main__":
    web.run_app(app(), host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)

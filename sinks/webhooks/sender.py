"""One HTTP attempt: sign, POST, measure; never raises for what the network or receiver does."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import aiohttp

from .retry_policy import parse_retry_after
from .verify import sign_headers


@dataclass(frozen=True)
class AttemptResult:
    status: int | None
    latency_us: int
    error: str | None
    retry_after: float | None


class Sender:
    """Shares one connection pool across endpoints; redirects are not followed (they would bypass the URL check)."""

    def __init__(self, timeout_s: float, max_connections: int) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._max = max_connections
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> "Sender":
        connector = aiohttp.TCPConnector(limit=self._max, limit_per_host=0)
        self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def post(self, url: str, msg_id: str, body: bytes, secrets: list[str]) -> AttemptResult:
        """POST ``body`` signed with every secret; the timestamp is this attempt's."""
        assert self._session is not None, "use Sender as an async context manager"
        headers = {**sign_headers(secrets, msg_id, body), "content-type": "application/json",
                   "user-agent": "meterstream-webhooks/1"}
        start = time.perf_counter()
        try:
            async with self._session.post(url, data=body, headers=headers, allow_redirects=False) as resp:
                await resp.read()
                return AttemptResult(resp.status, _since(start), None if resp.status < 300 else resp.reason,
                                     parse_retry_after(resp.headers.get("Retry-After")))
        except asyncio.TimeoutError:
            return AttemptResult(None, _since(start), "timeout", None)
        except aiohttp.ClientError as exc:
            return AttemptResult(None, _since(start), f"{type(exc).__name__}: {exc}"[:500], None)


def _since(start: float) -> int:
    return int((time.perf_counter() - start) * 1_000_000)

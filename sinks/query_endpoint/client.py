"""A read client for ``sql``, the report and the dashboard: the running sink's endpoint, else the store itself."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import clickhouse_connect

from . import discovery
from .settings import QueryEndpointSettings


def endpoint_client(url: str, token: str | None) -> Any:
    """A clickhouse-connect HTTP client of a query endpoint (the token as the Basic password)."""
    parts = urlsplit(url)
    if token:
        parts = parts._replace(netloc=f"default:{quote(token, safe='')}@{parts.netloc}")
    return clickhouse_connect.get_client(dsn=urlunsplit(parts), compress=False, autogenerate_session_id=False,
                                         query_limit=0)


def read_client(clickhouse_url: str) -> tuple[Any, str]:
    """(client, where it reads): the sink's endpoint when one serves this chdb URL, else a direct client."""
    from meterstream.sinks.cli import _client

    live = discovery.find(clickhouse_url)
    if live is not None:
        return endpoint_client(live, QueryEndpointSettings().token()), f"{live} (the running sink's query endpoint)"
    return _client(clickhouse_url), clickhouse_url

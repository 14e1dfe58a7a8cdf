"""One way to reach ClickHouse, embedded or server, from a single URL setting."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from meterstream.errors import ConfigError


def connect(url: str, **settings: Any) -> Client:
    """A clickhouse-connect client for ``chdb:///abs/path`` or ``http(s)://...``.

    chDB runs the ClickHouse engine inside this process; only one process may
    open a data directory at a time, and one process can open only one.
    """
    if url.startswith("chdb://"):
        path = url[len("chdb://"):]
        if not path.startswith("/"):
            raise ConfigError(f"chdb URL needs an absolute path (chdb:///abs/path), got {url!r}")
        Path(path).mkdir(parents=True, exist_ok=True)
    elif not url.startswith(("http://", "https://")):
        raise ConfigError(f"ClickHouse URL must start with chdb://, http:// or https://, got {url!r}")
    return clickhouse_connect.get_client(dsn=url, settings=settings or None)


def sibling(client: Client, url: str) -> Client:
    """Another client of the same store as ``client`` (its own connection, so queries run side by side):
    the same chDB path for an embedded client, else ``url``."""
    path = getattr(client, "path", None)
    return connect(f"chdb://{path}" if isinstance(path, str) and path.startswith("/") else url)

"""How clients find the sink's query endpoint: a small file beside the embedded data directory.

The sink writes ``<chdb path>.endpoint.json`` (``{"url", "pid"}``, owner-only)
when its endpoint listens and removes it on stop. A client that is about to
open a ``chdb://`` URL reads it first; the file of a sink killed without
stopping names a dead process or an endpoint that does not answer, and is
ignored. The token is never written there: clients take it from
``METERSTREAM_QUERY_TOKEN``.
"""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path


def discovery_file(clickhouse_url: str) -> Path:
    path = Path(clickhouse_url[len("chdb://"):])
    return path.with_name(path.name + ".endpoint.json")


def publish(clickhouse_url: str, url: str) -> None:
    target = discovery_file(clickhouse_url)
    tmp = target.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"url": url, "pid": os.getpid()}, f)
    tmp.replace(target)


def withdraw(clickhouse_url: str) -> None:
    """Remove the file if it is this process's (a newer sink's file stays)."""
    target = discovery_file(clickhouse_url)
    try:
        if json.loads(target.read_text()).get("pid") == os.getpid():
            target.unlink()
    except (OSError, ValueError):
        pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def find(clickhouse_url: str, timeout: float = 2.0) -> str | None:
    """The URL of the running sink's endpoint for this chdb URL, or None (no sink, or it has none)."""
    if not clickhouse_url.startswith("chdb://"):
        return None
    try:
        info = json.loads(discovery_file(clickhouse_url).read_text())
        url, pid = str(info["url"]), int(info["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not _alive(pid):
        return None
    try:
        with urllib.request.urlopen(f"{url}/ping", timeout=timeout) as response:  # noqa: S310 - our own URL
            return url if response.status == 200 else None
    except OSError:
        return None

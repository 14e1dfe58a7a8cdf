"""Versioned SQL migrations, applied idempotently when a sink starts.

Files are ``migrations/NNNN_name.sql``; statements end with ``;`` at the end of a
line. Applied versions are recorded in ``schema_migrations``; every statement is
itself idempotent (IF NOT EXISTS) so two sinks starting at once are harmless.
"""

from __future__ import annotations

import logging
import re
from importlib import resources

from clickhouse_connect.driver.client import Client

log = logging.getLogger(__name__)
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def available() -> list[tuple[int, str, str]]:
    """(version, file name, SQL) of every migration shipped with the package, in order."""
    out = []
    for entry in resources.files("meterstream.sinks").joinpath("migrations").iterdir():
        m = _NAME.match(entry.name)
        if m:
            out.append((int(m.group(1)), entry.name, entry.read_text()))
    return sorted(out)


def statements(sql: str) -> list[str]:
    lines = [ln for ln in sql.splitlines() if not ln.strip().startswith("--")]
    return [s.strip() for s in re.split(r";\s*$", "\n".join(lines), flags=re.M) if s.strip()]


def migrate(client: Client) -> list[str]:
    """Apply every migration not yet recorded; return the names applied."""
    client.command(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version UInt32, name String, "
        "applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) ENGINE = ReplacingMergeTree ORDER BY version")
    done = {r[0] for r in client.query("SELECT version FROM schema_migrations FINAL").result_rows}
    applied = []
    for version, name, sql in available():
        if version in done:
            continue
        for stmt in statements(sql):
            client.command(stmt)
        client.insert("schema_migrations", [[version, name]], column_names=["version", "name"])
        applied.append(name)
        log.info("applied migration %s", name)
    return applied

"""One query on the embedded engine, read-only and bounded, in the format the client asked for.

Each query gets a fresh chDB connection handle (about 0.1 ms; settings are per
handle): the client's settings are applied first, then the endpoint's limits,
then ``readonly = 1``, which makes the limits impossible to change from the
query text (``SETTINGS`` clause or ``SET``) and refuses anything but reads.
chDB writes the result in any ClickHouse format itself (Native, RowBinary,
JSON, ...), so bytes go back to the client as the engine made them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import chdb

# Names the HTTP interface consumes itself (clickhouse-connect's transport settings and
# ClickHouse's own HTTP parameters): never passed on to the engine.
TRANSPORT = frozenset({
    "database", "default_format", "query", "query_id", "user", "password", "quota_key", "buffer_size",
    "session_id", "session_timeout", "session_check", "compress", "decompress", "wait_end_of_query",
    "client_protocol_version", "role", "send_progress_in_http_headers", "http_headers_progress_interval_ms",
    "enable_http_compression", "http_zlib_compression_level", "http_native_compression_disable_checksumming_on_decompress",
})
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TRAILING_FORMAT = re.compile(r"\bFORMAT\s+(\w+)\s*;?\s*$", re.IGNORECASE)
_CODE = re.compile(r"Code: (\d+)")


class QueryFailed(Exception):
    """The engine refused or failed the query; ``code`` is ClickHouse's error code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Answer:
    body: bytes
    fmt: str
    summary: dict[str, str] = field(default_factory=dict)


def output_format(sql: str, default: str | None) -> str:
    """The format a statement's result comes in: its own FORMAT clause, else the default."""
    m = _TRAILING_FORMAT.search(sql)
    return m.group(1) if m else (default or "TabSeparated")


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _failed(exc: Exception) -> QueryFailed:
    text = str(exc)
    text = text[text.find("Code: "):] if "Code: " in text else text
    m = _CODE.search(text)
    return QueryFailed(text.strip(), int(m.group(1)) if m else 1002)


class ReadOnlyEngine:
    """Runs queries on the chDB directory this process has open, read-only, under limits."""

    def __init__(self, path: str, timeout_s: float, max_result_bytes: int) -> None:
        self.path = path
        self.limits = {
            "max_execution_time": str(timeout_s), "timeout_overflow_mode": "throw",
            "max_result_bytes": str(max_result_bytes), "result_overflow_mode": "throw",
        }
        self.max_result_bytes = max_result_bytes

    def timezone(self) -> str:
        return self.run("SELECT timezone()", {}, {}, "TabSeparated").body.decode().strip()

    def run(self, sql: str, params: dict[str, str], settings: dict[str, str], default_format: str | None,
            database: str | None = None) -> Answer:
        """Run one statement; raise QueryFailed with ClickHouse's code and message."""
        fmt = output_format(sql, default_format)
        bad = [k for k in settings if not _NAME.match(k)]
        if bad:
            raise QueryFailed(f"Code: 115. DB::Exception: Unknown setting {bad[0]!r}. (UNKNOWN_SETTING)", 115)
        conn = chdb.connect(self.path)
        try:
            if database and database != "default":
                self._do(conn, f"USE `{database.replace('`', '')}`")
            for name, value in {**settings, **self.limits, "readonly": "1"}.items():
                self._do(conn, f"SET {name} = {_quote(value)}")
            try:
                result = conn.query(sql, fmt, params=params)
            except Exception as exc:  # chDB raises RuntimeError with ClickHouse's message
                raise _failed(exc) from None
            body = result.bytes() or b""
            if len(body) > self.max_result_bytes:
                raise QueryFailed(f"Code: 396. DB::Exception: Limit for result exceeded: {len(body)} bytes, "
                                  f"maximum {self.max_result_bytes}. (TOO_MANY_ROWS_OR_BYTES)", 396)
            return Answer(body, fmt, _summary(result))
        finally:
            conn.close()

    @staticmethod
    def _do(conn: Any, statement: str) -> None:
        try:
            conn.query(statement, "TabSeparated")
        except Exception as exc:
            raise _failed(exc) from None


def _summary(result: Any) -> dict[str, str]:
    """The X-ClickHouse-Summary fields a client reads."""
    try:
        return {"read_rows": str(result.rows_read()), "read_bytes": str(result.bytes_read()),
                "written_rows": "0", "written_bytes": "0", "total_rows_to_read": str(result.rows_read()),
                "result_rows": "0", "result_bytes": "0", "elapsed_ns": str(int(result.elapsed() * 1e9))}
    except Exception:  # noqa: BLE001 - statistics are optional
        return {}

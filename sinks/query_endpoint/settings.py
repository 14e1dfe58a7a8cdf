"""Settings of the query endpoint: where it listens, who may use it, and what one query may cost."""

from __future__ import annotations

import ipaddress

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def is_loopback(host: str) -> bool:
    """True for an address only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name or 0.0.0.0: reachable from elsewhere


class QueryEndpointSettings(BaseSettings):
    """The sink's read-only query endpoint; ``sql``, ``report`` and ``dashboard`` read the token from here too."""

    model_config = SettingsConfigDict(env_prefix="METERSTREAM_", extra="ignore")

    query_endpoint: bool = Field(True, description="Serve the endpoint while the sink runs on the embedded engine.")
    query_host: str = Field("127.0.0.1", description="Address the endpoint binds; not a loopback one needs a token.")
    query_port: int = Field(8124, ge=0, le=65535, description="Port of the endpoint; 0 picks a free one.")
    query_token: SecretStr | None = Field(
        None, description="Token a client must present (Bearer, X-ClickHouse-Key or the Basic password); "
                          "required when query_host is not a loopback address.")
    query_timeout_s: float = Field(30.0, gt=0, description="Longest a query may run (max_execution_time).")
    query_max_result_bytes: int = Field(100_000_000, ge=1, description="Largest result one query may return.")
    query_concurrency: int = Field(4, ge=1, description="Queries run at once; more wait their turn.")

    @model_validator(mode="after")
    def _token_off_loopback(self) -> "QueryEndpointSettings":
        if self.query_endpoint and not is_loopback(self.query_host) and not self.query_token:
            raise ValueError(f"query_host {self.query_host!r} is reachable from other machines: "
                             "set query_token (METERSTREAM_QUERY_TOKEN) or bind 127.0.0.1")
        return self

    def token(self) -> str | None:
        return self.query_token.get_secret_value() if self.query_token else None

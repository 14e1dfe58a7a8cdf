"""Settings of ``meterstream report`` and ``meterstream dashboard`` (environment prefix ``METERSTREAM_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, model_validator

from meterstream.config import default_data_dir

from ..query_endpoint.settings import QueryEndpointSettings, is_loopback
from ..settings import ClickHouseSettings


class ReportSettings(ClickHouseSettings, QueryEndpointSettings):
    """Where reports go and where the dashboard listens; reads use the sink's query endpoint when it runs."""

    report_dir: Path = Field(default_factory=lambda: default_data_dir() / "reports",
                             description="Folder `meterstream report` writes into (one subfolder per period).")
    dashboard_host: str = Field("127.0.0.1", description="Address the dashboard binds; not a loopback one "
                                                         "needs dashboard_token.")
    dashboard_port: int = Field(8050, ge=0, le=65535, description="Port of the dashboard; 0 picks a free one.")
    dashboard_token: SecretStr | None = Field(
        None, description="Password the dashboard asks for (HTTP Basic, any user name); required off loopback.")

    @model_validator(mode="after")
    def _dashboard_token_off_loopback(self) -> "ReportSettings":
        if not is_loopback(self.dashboard_host) and not self.dashboard_token:
            raise ValueError(f"dashboard_host {self.dashboard_host!r} is reachable from other machines: "
                             "set dashboard_token (METERSTREAM_DASHBOARD_TOKEN) or bind 127.0.0.1")
        return self

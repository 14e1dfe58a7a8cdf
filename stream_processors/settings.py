"""Settings of the Faust stream processors (environment prefix ``METERSTREAM_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from meterstream.config import KafkaSettings, Topics, default_data_dir


class ProcessorSettings(KafkaSettings, Topics):
    """One Faust worker. Run several with the same app id to share the partitions."""

    model_config = SettingsConfigDict(env_prefix="METERSTREAM_", extra="ignore")

    processor_app_id: str = Field("meterstream-processor", description="Faust app id = consumer group and changelog prefix.")
    processor_web_host: str = Field("127.0.0.1", description="Address the quota HTTP views bind to.")
    processor_web_port: int = Field(6066, ge=1, le=65535, description="Port of the quota HTTP views.")
    processor_store: str = Field("memory://", description="Faust table store; tables are rebuilt from their changelog on start.")
    processor_data_dir: Path = Field(default_factory=lambda: default_data_dir() / "processor")
    processor_log_level: str = Field("info")

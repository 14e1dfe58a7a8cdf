"""Settings of the producer library (environment prefix ``METERSTREAM_``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from meterstream.config import KafkaSettings, Topics


class ProducerSettings(KafkaSettings, Topics):
    """How a service meters its calls. Every field can be set as METERSTREAM_<NAME>."""

    model_config = SettingsConfigDict(env_prefix="METERSTREAM_", extra="ignore")

    batch_max_events: int = Field(1000, ge=1, le=100_000, description="Send a license's batch when it holds this many events.")
    linger_ms: int = Field(50, ge=0, le=60_000, description="...or when its oldest event is this old.")
    compression: str = Field("lz4", description="Kafka compression: none, gzip, snappy, lz4 or zstd.")
    delivery_timeout_ms: int = Field(30_000, ge=1000, description="How long librdkafka retries one message.")
    producer_id: str | None = Field(None, description="Stable id of this process; default: host-pid-random.")
    # Defaults stamped on every event unless the call overrides them.
    team: str = ""
    app: str = ""
    environment: str = ""
    purpose: str = ""
    hardware_id: str = ""
    region: str = ""
    model: str = ""
    model_version: str = ""
    feature: str = ""

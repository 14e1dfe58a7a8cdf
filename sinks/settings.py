"""Settings of the ClickHouse sink (environment prefix ``METERSTREAM_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from meterstream.config import KafkaSettings, Topics, default_data_dir

from .query_endpoint.settings import QueryEndpointSettings


def default_clickhouse_url() -> str:
    return f"chdb://{(default_data_dir() / 'clickhouse').resolve()}"


class ClickHouseSettings(KafkaSettings, Topics):
    """Where ClickHouse is: ``chdb:///abs/path`` (embedded, default) or ``http(s)://user:pass@host:port/db``."""

    model_config = SettingsConfigDict(env_prefix="METERSTREAM_", extra="ignore")

    clickhouse_url: str = Field(default_factory=default_clickhouse_url,
                                description="chdb:///abs/path (embedded) or http(s)://user:pass@host:port/db.")


def default_key_path() -> Path:
    return default_data_dir() / "evidence" / "signing.key"


class EvidenceSettings(ClickHouseSettings):
    """The evidence log (docs/evidence.md): on or off, the signing key, how often checkpoints are signed."""

    evidence_enabled: bool = Field(True, description="Log every stored usage event and alert in the Merkle log "
                                                     "(applied at sink start).")
    evidence_origin: str = Field("meterstream", description="Signing key name; checkpoint origins are "
                                                            "<origin>/<topic>/<partition>.")
    evidence_key_path: Path = Field(default_factory=default_key_path, description="Ed25519 signing key (PEM, 0600).")
    evidence_key_passphrase: SecretStr | None = Field(None, description="Passphrase the key file is encrypted with.")
    evidence_checkpoint_events: int = Field(10_000, ge=1, description="Sign a checkpoint once this many leaves (usage "
                                                                      "messages, alerts) "
                                                                      "were added since the last one...")
    evidence_checkpoint_s: float = Field(10.0, gt=0, description="...or once this many seconds passed and it grew.")


class SinkSettings(EvidenceSettings, QueryEndpointSettings):
    """One sink process; run several with the same group to share partitions.

    On the embedded engine it also serves the read-only query endpoint (``query_*`` fields).
    """

    sink_group: str = Field("meterstream-sink", description="Kafka consumer group of the sink.")
    sink_flush_rows: int = Field(200_000, ge=1, description="Insert when this many events are buffered "
                                                            "(record topics: at most 10,000)...")
    sink_flush_ms: int = Field(1000, ge=10, description="...or when the oldest buffered message is this old.")
    sink_consumers: str = Field(
        "usage,alerts,licenses,decisions,releases,webhooks,governance",
        description="Comma-separated consumers `meterstream sink` runs: usage, alerts, licenses, decisions, "
                    "releases (the model-release catalog), webhooks (the webhook delivery log), governance "
                    "(inventory, policies, exceptions, alert actions). Each has its own consumer group, <sink_group>.<name> "
                    "(usage: <sink_group>).")
    sink_retention_months: int = Field(
        0, ge=0, description="Months of raw usage_events kept (TTL applied at sink start); 0 keeps everything.")
    sink_decisions_retention_days: int = Field(
        0, ge=0, description="Days of license_decisions kept (TTL applied at sink start); 0 keeps everything.")
    sink_retry_max_s: float = Field(30.0, gt=0, description="Longest wait between retries of a failed write.")
    sink_write_threads: int = Field(
        1, ge=1, description="Inserts a usage flush is cut into, by Kafka partition, written side by side, each "
                             "with its own ClickHouse client; 1 writes a flush in one insert (2: 15-30% more "
                             "events/s for 15-30% more CPU per event, measured on 2 cores).")

    def consumer_names(self) -> list[str]:
        return [c.strip() for c in self.sink_consumers.split(",") if c.strip()]

"""Settings of the producer library (environment prefix ``METERSTREAM_``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from meterstream.config import KafkaSettings, Topics, default_data_dir

FsyncPolicy = Literal["always", "interval", "never"]


def default_spool_dir() -> Path:
    return default_data_dir() / "spool"


class ProducerSettings(KafkaSettings, Topics):
    """How a service meters its calls. Every field can be set as METERSTREAM_<NAME>."""

    model_config = SettingsConfigDict(env_prefix="METERSTREAM_", extra="ignore")

    # -- batching and delivery
    batch_max_events: int = Field(1000, ge=1, le=100_000,
                                  description="Send a license's batch when it holds this many events.")
    max_message_bytes: int = Field(1_000_000, ge=10_000, le=32 << 20,
                                   description="Largest Kafka message; a batch that encodes larger is split. "
                                               "Keep it under the broker's/topic's message.max.bytes.")
    linger_ms: int = Field(50, ge=1, le=60_000, description="...or when its oldest event is this old.")
    compression: Literal["none", "gzip", "snappy", "lz4", "zstd"] = Field(
        "lz4", description="Kafka compression of the batches.")
    delivery_timeout_ms: int = Field(30_000, ge=1000,
                                     description="How long librdkafka retries one message before it is "
                                                 "left to the spool's replay.")
    producer_id: str | None = Field(None, description="Stable id of this process; default: host-pid-random.")
    buffer_max_events: int = Field(500_000, ge=1000,
                                   description="Events accepted but not yet written to the spool; "
                                               "when reached (the spool is full), record() raises SpoolFullError.")
    # -- spool
    spool_dir: Path | None = Field(None, description="Directory of the on-disk spool (one process at a "
                                                     "time); default: the first free <data dir>/spool/slot-N, "
                                                     "so a restarted process replays what a killed one left.")
    spool_max_bytes: int = Field(1 << 30, ge=1 << 16, description="Bound of the spool's total size on disk.")
    spool_segment_bytes: int = Field(16 << 20, ge=1 << 12, description="Size at which a spool segment is rolled.")
    fsync: FsyncPolicy = Field("interval", description="always: strict mode, record() returns once the event "
                               "is fsynced; interval: fsync every fsync_interval_ms; never: leave it to the OS.")
    fsync_interval_ms: int = Field(200, ge=1, description="fsync period of the 'interval' policy.")
    strict_timeout_ms: int = Field(10_000, ge=1, description="Strict mode: longest wait of record() "
                                                             "for its event to become durable.")
    replay_backoff_ms: int = Field(1000, ge=10, description="Wait between replay attempts while Kafka fails.")
    # -- quota pre-check
    quota_url: str | None = Field(None, description="Base URL of the quota service; None: check() answers "
                                                    "'unavailable'.")
    check_timeout_ms: int = Field(200, ge=1, description="Timeout of one quota check request.")
    check_cache_ttl_ms: int = Field(1000, ge=0, description="How long a quota answer is reused locally.")
    check_fail_open: bool = Field(True, description="When the quota service is unavailable: allow (True) "
                                                    "or refuse (False).")
    # -- license-file deployments (issue 13: signed offline usage)
    license_file: Path | None = Field(None, description="A license file (meterstream license export): each "
                                      "spooled batch is chained and signed with the machine key it registers; "
                                      "hardware_id defaults to the machine fingerprint.")
    machine_key_file: Path | None = Field(None, description="This machine's offline-usage signing key; "
                                          "default: <data dir>/keys/machine.key.")
    # -- defaults stamped on every event unless the call overrides them
    max_payload_bytes: int = Field(64 << 20, ge=1, description="Largest input/output payload hashed at the call.")
    team: str = Field("", description="Owning team.")
    app: str = Field("", description="Calling application.")
    environment: str = Field("", description="prod, staging, dev...")
    purpose: str = Field("", description="Why the call was made (e.g. customer-facing, evaluation).")
    hardware_id: str = Field("", description="Id of the accelerator or host running the model.")
    region: str = Field("", description="Region the inference ran in.")
    model: str = Field("", description="Model name (required on every event: here or in the call).")
    model_version: str = Field("", description="Model version.")
    feature: str = Field("", description="Product feature that made the call.")
    provider: str = Field("", description="Who serves the model, as OTel gen_ai.provider.name (openai, "
                                          "anthropic, aws.bedrock, gcp.gemini, self-hosted...).")
    source: str = Field("library", description="What records the events: library, otlp, openai-sdk, litellm...")
    use_case: str = Field("", description="Inventory id of the use case (AI application) the calls belong to.")
    sensitivity: str = Field("", description="Sensitivity tier of the data the calls process.")
    data_categories: list[str] = Field(default_factory=list,
                                       description="Categories of data the calls process (JSON list in the "
                                                   "environment, e.g. '[\"pii\"]').")

    @model_validator(mode="after")
    def _consistent(self) -> "ProducerSettings":
        """Combinations that would fail only later, at the first outage or the first check()."""
        if self.spool_max_bytes < 2 * self.max_message_bytes:
            raise ValueError(f"spool_max_bytes ({self.spool_max_bytes}) must hold at least two messages of "
                             f"max_message_bytes ({self.max_message_bytes})")
        if self.quota_url is not None and not self.quota_url.startswith(("http://", "https://")):
            raise ValueError(f"quota_url must be an http(s) URL, got {self.quota_url!r}")
        return self

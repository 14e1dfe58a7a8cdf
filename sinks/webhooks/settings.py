"""Settings of the webhook dispatcher and the delivery log sink (environment prefix ``METERSTREAM_``)."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator, model_validator

from meterstream.config import KafkaSettings, Topics
from meterstream.kafka.topics import DEFAULT_STATE_RETENTION_S

DEFAULT_SCHEDULE = [5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0]  # 27 h 35 min 5 s in all


class WebhookSettings(KafkaSettings, Topics):
    """One webhook dispatcher; run several with the same group to share the alert partitions."""

    webhook_group: str = Field("meterstream-webhooks", description="Kafka consumer group of the dispatchers.")
    webhook_session_timeout_ms: int = Field(
        45_000, ge=1000, description="Kafka consumer session timeout: how soon the partitions of a dispatcher "
                                     "that died are handed (with their pending retries) to another one.")
    webhook_master_key: SecretStr | None = Field(
        None, description="Fernet key (urlsafe base64 of 32 bytes) that encrypts signing secrets at rest; "
                          "several keys separated by commas during a master-key rotation, newest first. "
                          "Create one with `meterstream webhook gen-master-key`.")
    webhook_retry_schedule: list[float] = Field(
        default_factory=lambda: list(DEFAULT_SCHEDULE),
        description="Seconds to wait before each retry (JSON list); its length is the number of retries.")
    webhook_retry_jitter: float = Field(0.1, ge=0, le=0.5, description="Each wait is scaled by 1 ± this fraction.")
    webhook_retry_after_max_s: float = Field(
        21600.0, ge=0, description="A receiver's Retry-After is honoured up to this many seconds.")
    webhook_timeout_s: float = Field(10.0, gt=0, description="Per-request timeout (connect + response).")
    webhook_endpoint_concurrency: int = Field(4, ge=1, description="Requests in flight per endpoint.")
    webhook_max_in_flight: int = Field(256, ge=1, description="Requests in flight per dispatcher.")
    webhook_max_queued: int = Field(
        10_000, ge=1, description="Due deliveries waiting for a slot before the dispatcher stops reading alerts.")
    webhook_state_retention_s: float = Field(
        DEFAULT_STATE_RETENTION_S, description="Retention of the retry-state topic; also how long a duplicate alert is recognised.")

    @field_validator("webhook_retry_schedule")
    @classmethod
    def _schedule_positive(cls, v: list[float]) -> list[float]:
        if any(d < 0 for d in v):
            raise ValueError("webhook_retry_schedule: waits must be >= 0 seconds")
        return v

    @model_validator(mode="after")
    def _state_outlives_schedule(self) -> "WebhookSettings":
        horizon = sum(self.webhook_retry_schedule) * (1 + self.webhook_retry_jitter)
        if self.webhook_state_retention_s < 2 * horizon:
            raise ValueError("webhook_state_retention_s must be at least twice the retry horizon "
                             f"({horizon:.0f}s), or pending retries could be deleted")
        return self

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
    processor_canonical_url: str | None = Field(
        None, description="URL other workers use to reach this one's views (request routing); "
                          "default http://<web host>:<web port>.")
    processor_store: str = Field("memory://", description="Faust table store; tables are rebuilt from their changelog on start.")
    processor_data_dir: Path = Field(default_factory=lambda: default_data_dir() / "processor",
                                     description="Faust's data directory.")
    processor_log_level: str = Field("info", description="Worker log level: debug, info, warning or error.")
    processor_commit_interval_s: float = Field(1.0, gt=0, description="How often consumed offsets are committed.")
    processor_take_max: int = Field(
        200, ge=1, description="Most usage messages one agent step applies together (those already arrived; "
                               "a step never waits for more): one state write per license per step.")
    processor_batch_delivery: bool = Field(
        True, description="Hand each fetched batch of records to the streams under one flow-control wait "
                          "(batch_delivery.py) instead of Faust's one wait (four tasks) per record.")
    processor_session_timeout_s: float = Field(
        30.0, ge=6, description="A worker that stops heartbeating (crashed) loses its partitions after this long.")
    processor_unknown_license_grace_s: float = Field(
        10.0, ge=0, description="Longest a usage message of a license without terms waits for the licenses "
                                "partition to catch up (startup, rebalance) before unknown_license is raised.")
    processor_gap_grace_s: float = Field(
        60.0, ge=0, description="A hole in a producer's sequence numbers still open after this much event "
                                "time is reported as sequence_gap (a spool replay may fill it before).")
    processor_spike_bucket_s: int = Field(60, ge=1, description="Width of the spend-spike buckets (event time).")
    processor_spike_alpha: float = Field(0.1, gt=0, le=1, description="EWMA weight of the newest bucket.")
    processor_spike_k: float = Field(4.0, gt=0, description="Spike when a bucket exceeds mean + k standard deviations...")
    processor_spike_ratio: float = Field(3.0, ge=1, description="...and ratio x the mean.")
    processor_spike_min_history: int = Field(10, ge=1, description="Active buckets of baseline before a spike may fire.")
    processor_governance_grace_s: float = Field(
        10.0, ge=0, description="Longest a starting worker holds usage back until it has read the inventory, "
                                "policies, exceptions, prices and budgets to their end.")
    processor_alert_retention_days: float = Field(
        2.0, gt=0, description="Days after its period ends that an alert's fired mark is kept (dedup window).")

    processor_key_failures_burst: int = Field(
        10, ge=1, description="Wrong license keys one client address may present at full speed...")
    processor_key_failures_per_s: float = Field(
        1.0, gt=0, description="...refilled at this rate; beyond it, each wrong key's answer waits...")
    processor_key_failure_delay_s: float = Field(1.0, ge=0, description="...this long.")
    processor_check_requires_key: bool = Field(
        False, description="Require the license's key (X-License-Key) on /v1/licenses/{id}/check and /quota.")

    processor_tiers_file: Path | None = Field(
        None, description="TOML file of tiers added to (or replacing) the shipped free/pro/enterprise "
                          "templates that `license create --tier` applies.")
    processor_trusted_keys_dir: Path | None = Field(
        None, description="Vendor public keys (*.pub) that machine certificates of signed offline usage are "
                          "checked against; default: <data dir>/keys/signing (where `license keygen` writes).")

    @property
    def canonical_url(self) -> str:
        return self.processor_canonical_url or f"http://{self.processor_web_host}:{self.processor_web_port}"

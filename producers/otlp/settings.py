"""Settings of the OTLP receiver (environment prefix ``METERSTREAM_``).

The events it records go through the producer library, configured by
``ProducerSettings`` as usual (Kafka, spool, ``producer_id``...).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class OtlpSettings(BaseSettings):
    """Where ``meterstream otlp`` listens and how it maps spans. Every field can be set as METERSTREAM_<NAME>."""

    model_config = SettingsConfigDict(env_prefix="METERSTREAM_", extra="ignore")

    otlp_host: str = Field("127.0.0.1", description="Address the receiver binds (0.0.0.0 to take spans "
                                                    "from other hosts).")
    otlp_port: int = Field(4318, ge=0, le=65535, description="Port of OTLP/HTTP (4318 is OTLP's default; "
                                                             "0 picks a free one).")
    otlp_max_body_bytes: int = Field(16 << 20, ge=1024, description="Largest request body, compressed or "
                                                                    "not; larger requests get 413.")
    otlp_mapping_file: Path | None = Field(None, description="JSON file mapping event fields to span/resource "
                                                             "attributes; unset: the built-in map.")
    otlp_default_license: str | None = Field(None, description="License of spans whose attributes name none; "
                                                               "unset: such spans are rejected.")
    otlp_dedup_spans: int = Field(200_000, ge=2, description="Recent spans remembered so that a retried "
                                                             "export is not recorded twice.")

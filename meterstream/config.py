"""Settings shared by every deployable: where Kafka is and what the topics are called.

Each deployable (producer library, processors, sink, dispatcher) has one
pydantic-settings object built in its ``main()``; they all embed these fields
so one set of ``METERSTREAM_*`` environment variables configures a whole
deployment.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"


def project_root() -> Path | None:
    """The source checkout this package runs from, if any (for default data paths)."""
    here = Path(__file__).resolve().parent.parent
    return here if (here / "pyproject.toml").exists() else None


def default_data_dir() -> Path:
    """Where meterstream keeps its data (spool, processor state, embedded ClickHouse, logs).

    In order: ``$METERSTREAM_DATA_DIR`` if set (an explicit choice wins everywhere);
    ``.data/`` of the source checkout this runs from (``make run``, the tests); else,
    for an installed package, the per-user data directory of the XDG base directory
    spec, ``$XDG_DATA_HOME/meterstream`` (an absolute ``XDG_DATA_HOME`` only, as the
    spec says), else ``~/.local/share/meterstream``. Never site-packages.
    """
    explicit = os.environ.get("METERSTREAM_DATA_DIR")
    if explicit:
        return Path(explicit).expanduser()
    root = project_root()
    if root is not None:
        return root / ".data"
    xdg = os.environ.get("XDG_DATA_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".local" / "share"
    return base / "meterstream"


class Topics(BaseSettings):
    """Topic names, all derived from one prefix so a test or a tenant can have its own set.

    Partitioning and cleanup of each topic are declared in ``meterstream.kafka.topics``.
    """

    model_config = SettingsConfigDict(env_prefix="METERSTREAM_", extra="ignore")

    topic_prefix: str = Field("meterstream.", description="Prefix of every topic name.")
    partitions: int = Field(4, ge=1, description="Partitions of topics meterstream creates.")

    @property
    def usage(self) -> str:
        return f"{self.topic_prefix}usage"

    @property
    def licenses(self) -> str:
        return f"{self.topic_prefix}licenses"

    @property
    def alerts(self) -> str:
        return f"{self.topic_prefix}alerts"

    @property
    def prices(self) -> str:
        return f"{self.topic_prefix}prices"

    @property
    def decisions(self) -> str:
        return f"{self.topic_prefix}decisions"

    @property
    def model_releases(self) -> str:
        return f"{self.topic_prefix}model.releases"

    @property
    def usage_dlq(self) -> str:
        return f"{self.topic_prefix}usage.dlq"

    @property
    def alerts_dlq(self) -> str:
        return f"{self.topic_prefix}alerts.dlq"

    @property
    def evidence_checkpoints(self) -> str:
        return f"{self.topic_prefix}evidence.checkpoints"

    @property
    def inventory(self) -> str:
        return f"{self.topic_prefix}inventory"

    @property
    def policies(self) -> str:
        return f"{self.topic_prefix}policies"

    @property
    def policy_exceptions(self) -> str:
        return f"{self.topic_prefix}policy.exceptions"

    @property
    def budgets(self) -> str:
        return f"{self.topic_prefix}budgets"

    @property
    def spend(self) -> str:
        return f"{self.topic_prefix}spend"

    @property
    def alert_actions(self) -> str:
        return f"{self.topic_prefix}alert.actions"

    @property
    def webhook_endpoints(self) -> str:
        return f"{self.topic_prefix}webhook.endpoints"

    @property
    def webhook_retries(self) -> str:
        return f"{self.topic_prefix}webhook.retries"

    @property
    def webhook_deliveries(self) -> str:
        return f"{self.topic_prefix}webhook.deliveries"

    @property
    def webhook_dlq(self) -> str:
        return f"{self.topic_prefix}webhook.dlq"


class KafkaSettings(BaseSettings):
    """Connection to the Kafka cluster."""

    model_config = SettingsConfigDict(env_prefix="METERSTREAM_", extra="ignore")

    kafka_bootstrap_servers: str = Field(DEFAULT_BOOTSTRAP, description="host:port[,host:port...]")
    kafka_security_protocol: str = Field("PLAINTEXT", description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.")
    kafka_sasl_mechanism: str | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_group_protocol: Literal["consumer", "classic"] = Field(
        "consumer", description="Consumer-group protocol of the sinks' consumers: 'consumer' (KIP-848, Kafka "
                                ">= 4.0) rejoins at once after a broker restart; 'classic' for older brokers "
                                "(a rejoin can wait out the 45 s session).")

    def client_config(self) -> dict[str, str | int | float | bool]:
        """librdkafka settings common to producers, consumers and admin clients."""
        conf: dict[str, str | int | float | bool] = {
            "bootstrap.servers": self.kafka_bootstrap_servers,
            "security.protocol": self.kafka_security_protocol,
        }
        if self.kafka_sasl_mechanism:
            conf["sasl.mechanism"] = self.kafka_sasl_mechanism
        if self.kafka_sasl_username:
            conf["sasl.username"] = self.kafka_sasl_username
        if self.kafka_sasl_password:
            conf["sasl.password"] = self.kafka_sasl_password.get_secret_value()
        return conf

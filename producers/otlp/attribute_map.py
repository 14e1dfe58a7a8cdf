"""Which span or resource attributes give an event's license, team, app, use case, user...

A map from each event field to a list of attribute names, tried in order; for
each name the span's attributes are looked at first, then its resource's (so a
span can override what the whole service declares). The defaults read
``meterstream.<field>`` and the usual OpenTelemetry names (``service.name``,
``deployment.environment.name``, ``enduser.id``...). A JSON file
(``METERSTREAM_OTLP_MAPPING_FILE``) replaces any of the lists, and the list of
GenAI operations that are metered.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from meterstream.errors import ConfigError


def _names(*extra: str) -> Any:
    return Field(default_factory=lambda: list(extra))


class AttributeMap(BaseModel):
    """Event field -> attribute names (span first, then resource, for each name in order)."""

    model_config = ConfigDict(extra="forbid")

    license_id: list[str] = _names("meterstream.license_id")
    team: list[str] = _names("meterstream.team")
    app: list[str] = _names("meterstream.app", "service.name")
    environment: list[str] = _names("meterstream.environment", "deployment.environment.name",
                                    "deployment.environment")
    purpose: list[str] = _names("meterstream.purpose")
    feature: list[str] = _names("meterstream.feature")
    region: list[str] = _names("meterstream.region", "cloud.region")
    hardware_id: list[str] = _names("meterstream.hardware_id")
    user_id: list[str] = _names("meterstream.user_id", "enduser.id", "user.id")
    use_case: list[str] = _names("meterstream.use_case")
    sensitivity: list[str] = _names("meterstream.sensitivity")
    stage: list[str] = _names("meterstream.stage")
    data_categories: list[str] = _names("meterstream.data_categories")
    # gen_ai.operation.name values that are model calls. Agent and tool spans (invoke_agent, execute_tool...)
    # are not: their usage, when they report any, sums their child calls and would count them twice.
    # A span with usage but no operation name (older instrumentations) is metered.
    operations: list[str] = Field(default_factory=lambda: ["chat", "text_completion", "generate_content",
                                                           "embeddings"])

    @classmethod
    def load(cls, path: Path | None) -> "AttributeMap":
        """The map in ``path`` (JSON object; fields left out keep their defaults), or the defaults."""
        if path is None:
            return cls()
        try:
            return cls.model_validate(json.loads(path.read_text()))
        except (OSError, ValueError, ValidationError) as exc:
            raise ConfigError(f"OTLP attribute map {path}: {exc}") from None

    def lookup(self, field: str, span: dict[str, Any], resource: dict[str, Any]) -> Any:
        """The first attribute of ``field``'s list present on the span, else on the resource; None if none."""
        for name in getattr(self, field):
            if name in span:
                return span[name]
            if name in resource:
                return resource[name]
        return None

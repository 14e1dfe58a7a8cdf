"""Publishing the price catalog in force to the compacted ``prices`` topic, for the processors.

The sink prices every event exactly in ClickHouse; the processors need the
same prices to judge spend in money (budgets, spend spikes). ``meterstream
prices load`` therefore also publishes the loaded version's first-tier rows as
one ``PriceCatalog`` record under the key ``catalog`` (compaction keeps the
latest), which every worker reads to its end at start and follows.
"""

from __future__ import annotations

from typing import Any

from meterstream.clock import micros, now_us
from meterstream.config import KafkaSettings, Topics
from meterstream.kafka.publish import publish_records
from meterstream.schemas import RecordCodec

CATALOG_KEY = b"catalog"


def publish_catalog(kafka: KafkaSettings, topics: Topics, version: int, rows: list[dict[str, Any]]) -> None:
    """Publish catalog ``version`` (rows as ``parse_catalog`` returns them; higher tiers left out)."""
    prices = [{"provider": r["provider"], "model": r["model"], "version_pattern": r["version_pattern"], "metric": r["metric"],
               "unit_price": r["unit_price"], "currency": r["currency"], "effective_from": micros(r["effective_from"]),
               "effective_to": micros(r["effective_to"])} for r in rows if not r["tier_from"]]
    value = RecordCodec("price_catalog").encode({"catalog_version": version, "prices": prices, "loaded_at": now_us()})
    publish_records(kafka, topics.prices, [(CATALOG_KEY, value)])

"""The Faust application: thin wiring of topics and tables to the pure modules.

* ``licenses`` agent: the compacted licenses topic -> ``license_terms`` table
  (Avro bytes as base64; a tombstone deletes). Licenses are co-partitioned with usage
  (same key, same partition count, same partitioner), so a worker holds the
  terms of exactly the licenses it meters, and its table is rebuilt from its
  changelog on restart before any usage is processed.
* ``meter_usage`` agent: the usage messages (each many events of one license) that
  have arrived, as one step (``usage_step``) -> ``metering.apply_message`` per message
  -> one ``license_state`` write per license + alerts on the alerts topic (key =
  license id, so one license's alerts stay ordered).
* HTTP views in ``views.py``; validate, reserve and release by key in ``access.py``,
  with the key index and the release catalog a ``key_index.Follower`` thread keeps.

Messages that cannot be decoded go to the usage dead-letter topic with the
reason in a header; they never stop the agent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, AsyncIterator, cast

import faust
from faust.types import TP

from meterstream.kafka import dead_letters
from meterstream.kafka.partitioner import crc32_partitioner
from meterstream.kafka.topics import TopicSpec, changelog_topics, ensure_topics, governance_topics, pipeline_topics
from meterstream.schemas import BatchCodec, RecordCodec, bulk

from .access import Gate
from .batch_delivery import MeteringApp
from .decisions import DecisionLog
from .governance.agents import BUDGET_TABLE, wire_governance
from .key_index import Follower, KeyIndex
from .license.registry import TermsCache
from .license.releases import ReleaseCatalog
from .metering import MeteringRules
from .offline_chain import OfflineChains, trusted_keys
from .settings import ProcessorSettings
from .state_table import LicenseKeyedTable, LicenseStates
from .stats import Stats
from .throttle import KeyFailures
from .usage_step import HeldUsage, UsageSteps
from .views import register_views

log = logging.getLogger(__name__)


def rules_from(settings: ProcessorSettings) -> MeteringRules:
    from .anomaly.spike import SpikeSettings

    return MeteringRules(
        gap_grace_us=int(settings.processor_gap_grace_s * 1e6),
        alert_retention_us=int(settings.processor_alert_retention_days * 86_400e6),
        spike=SpikeSettings(bucket_us=settings.processor_spike_bucket_s * 1_000_000,
                            alpha=settings.processor_spike_alpha, k=settings.processor_spike_k,
                            ratio=settings.processor_spike_ratio,
                            min_history=settings.processor_spike_min_history))


def _faust_app(settings: ProcessorSettings) -> faust.App:
    app_class = MeteringApp if settings.processor_batch_delivery else faust.App
    return app_class(
        settings.processor_app_id,
        broker=[f"kafka://{h}" for h in settings.kafka_bootstrap_servers.split(",")],
        store=settings.processor_store,
        datadir=str(settings.processor_data_dir),
        topic_partitions=settings.partitions,
        topic_allow_declare=True,
        web_host=settings.processor_web_host,
        web_port=settings.processor_web_port,
        web_bind=settings.processor_web_host,
        canonical_url=settings.canonical_url,
        producer_acks=-1,
        producer_partitioner=crc32_partitioner,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=settings.processor_commit_interval_s,
        broker_session_timeout=settings.processor_session_timeout_s,
        broker_heartbeat_interval=min(3.0, settings.processor_session_timeout_s / 3),
        table_cleanup_interval=60.0,
    )


def create_app(settings: ProcessorSettings) -> faust.App:
    """A Faust app wired to the topics and tables named by ``settings``."""
    settings.processor_data_dir.mkdir(parents=True, exist_ok=True)
    app = _faust_app(settings)
    def raw(name: str) -> faust.TopicT:
        return app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw",
                         partitions=settings.partitions)
    usage, dlq, licenses, alerts_out = raw(settings.usage), raw(settings.usage_dlq), raw(settings.licenses), \
        raw(settings.alerts)
    decision_log = DecisionLog(raw(settings.decisions))
    # Keys are the license id's bytes (raw): request routing hashes exactly what the producers hashed.
    terms_table = app.Table("license_terms", default=None, key_type=bytes, value_type=None,
                            partitions=settings.partitions)
    # State values are bytes in state_codec's layout (raw: no Faust JSON, never pickle). The changelog
    # partition is computed from the key (= the usage message's own partition), so that the HTTP views
    # can write reservations outside an agent.
    state_table = LicenseKeyedTable(app, name="license_state", default=None, key_type=bytes, value_type=bytes,
                                    partitions=settings.partitions)
    app.tables.add(state_table)
    states = LicenseStates(state_table)
    terms = TermsCache(terms_table)
    stats = Stats(time.monotonic())
    rules = rules_from(settings)
    batch_codec, alert_codec = BatchCodec(), RecordCodec("alert")
    bulk.preload()  # numpy's import (~0.1-0.3 s) at start, not in the first usage step
    license_offsets: dict[int, int] = {}
    governance = wire_governance(app, settings, raw, alerts_out)  # inventory, policies, budgets
    index, catalog = KeyIndex(), ReleaseCatalog()
    # Keyed by license id like license_state: a step writes it with no current event to take a partition from.
    chains_table = LicenseKeyedTable(app, name="offline_chains", default=None, key_type=bytes, value_type=bytes,
                                     partitions=settings.partitions)
    app.tables.add(chains_table)
    chains = OfflineChains(chains_table, trusted_keys(settings))
    follower = Follower(settings, settings.licenses, settings.model_releases, index, catalog)

    @app.task
    async def follow_keys_and_releases() -> None:
        follower.start()

    @app.agent(licenses)
    async def license_updates(stream: faust.StreamT) -> AsyncIterator[Any]:
        async for event in stream.events():
            msg = event.message
            license_offsets[msg.partition] = msg.offset
            if msg.key is None:
                log.warning("license record without key at %s[%d]@%d: ignored", msg.topic, msg.partition, msg.offset)
                continue
            if terms.store(msg.key.decode(), msg.value):
                stats.licenses += 1
            yield msg.offset

    def licenses_caught_up(partition: int) -> bool:
        high = app.consumer.highwater(TP(settings.licenses, partition))
        return high is not None and (high == 0 or license_offsets.get(partition, -1) >= high - 1)

    async def await_licenses(partition: int) -> None:
        """Wait (bounded) for the licenses partition to catch up before judging a license unknown.

        Both agents consume concurrently, so at startup usage can overtake the
        terms it needs; waiting here avoids false unknown-license alerts.
        """
        deadline = time.monotonic() + settings.processor_unknown_license_grace_s
        while not licenses_caught_up(partition):
            if time.monotonic() >= deadline:
                return
            await asyncio.sleep(0.02)

    async def dead_letter(msg: Any, exc: Exception) -> None:
        log.warning("dead-lettering %s[%d]@%d: %s", msg.topic, msg.partition, msg.offset, exc)
        stats.dead_lettered += 1
        await dlq.send(key=msg.key, value=msg.value,
                       headers=dead_letters.headers(str(exc), msg.topic, msg.partition, msg.offset))

    steps = UsageSteps(batch_codec, alert_codec, terms, states, chains, governance, catalog, rules, stats,
                       alerts_out, dead_letter, await_licenses)
    take_max = settings.processor_take_max
    held: list[HeldUsage] = []

    @app.agent(usage)
    async def meter_usage(stream: faust.StreamT) -> AsyncIterator[Any]:
        manual = cast(faust.Stream, stream).noack()  # acked after their step: never when a step is cut short
        waiting = cast(faust.ChannelT, manual.channel).queue
        taken = HeldUsage(steps, manual.ack)
        held.append(taken)
        async for event in manual.events():
            if taken.add(event) < take_max and not waiting.empty():
                continue  # more has arrived already: take it into this step
            await taken.apply()
            yield stats.steps

    @app.timer(0.1)
    async def apply_held_usage() -> None:
        for taken in held:
            await taken.apply_if_stuck(app.flow_control.is_active())

    failures = KeyFailures(settings.processor_key_failures_burst, settings.processor_key_failures_per_s,
                           settings.processor_key_failure_delay_s)
    gate = Gate(app, terms, states, index, catalog, decision_log, failures, settings.partitions, governance.view)
    register_views(app, terms_table, states, terms, stats, gate, settings.processor_check_requires_key)
    return app


TABLES = ("license_terms", "license_state", "offline_chains", BUDGET_TABLE)


def topics_of(settings: ProcessorSettings) -> list[TopicSpec]:
    """The pipeline's topics and this app's table changelogs, created before Faust starts."""
    return pipeline_topics(settings) + governance_topics(settings) + changelog_topics(settings.processor_app_id, TABLES, settings.partitions)


def run_worker(settings: ProcessorSettings) -> None:
    """Run one worker in this process until SIGTERM/SIGINT."""
    ensure_topics(settings, topics_of(settings))
    app = create_app(settings)
    worker = faust.Worker(app, loglevel=settings.processor_log_level, quiet=True)
    worker.execute_from_commandline()

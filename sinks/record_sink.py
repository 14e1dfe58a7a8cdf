"""Low-volume record topics -> ClickHouse: alerts, license snapshots, decisions and model releases.

One fastavro-decoded record per message, mapped to a row, inserted in
batches by the batching consumer (offsets committed only after the insert).
Duplicates (redelivery) collapse in the tables' ReplacingMergeTree keys
(alert id; license + version; decision id; release).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from clickhouse_connect.driver.client import Client
from confluent_kafka import Message

from meterstream.errors import MeterstreamError
from meterstream.schemas import RecordCodec

from .batching import SKIP, BatchingConsumer, FlushPolicy, Invalid, Item, Row, Skip, batching_consumer
from .errors import SinkError
from .evidence.record_log import RecordLog
from .evidence.touched import touched_logs
from .settings import SinkSettings

RowFn = Callable[[dict[str, Any]], list[Any]]
RECORD_FLUSH_ROWS = 10_000

ALERT_COLUMNS = ["alert_id", "kind", "severity", "license_id", "tenant", "team", "metric", "period", "threshold",
                 "message", "evidence", "event_id", "created_at"]
LICENSE_COLUMNS = ["license_id", "updated_at", "key_hash", "tenant", "tier", "status", "not_before", "expires_at",
                   "quotas.metric", "quotas.limit", "quotas.period", "quotas.hard", "models.model",
                   "models.version_rule", "hardware_ids", "max_hardware", "regions", "features", "purchased_at"]


DECISION_COLUMNS = ["decision_id", "kind", "license_id", "valid", "code", "message", "terms_version", "tier",
                    "client", "feature", "metric", "quantity", "model", "model_version", "hardware_id", "region",
                    "reservation_id", "decided_at"]
RELEASE_COLUMNS = ["model", "version", "released_at", "withdrawn"]


def decision_row(r: dict[str, Any]) -> list[Any]:
    return [int(r[c]) if c == "valid" else r[c] for c in DECISION_COLUMNS]


def release_row(r: dict[str, Any]) -> list[Any]:
    return [r["model"], r["version"], r["released_at"], int(r["withdrawn"])]


def alert_row(r: dict[str, Any]) -> list[Any]:
    return [r[c] for c in ALERT_COLUMNS]


def license_row(r: dict[str, Any]) -> list[Any]:
    q, m = r["quotas"], r["models"]
    return [r["license_id"], r["updated_at"], r["key_hash"], r["tenant"], r["tier"], r["status"], r["not_before"],
            r["expires_at"], [x["metric"] for x in q], [x["limit"] for x in q], [x["period"] for x in q],
            [int(x["hard"]) for x in q], [x["model"] for x in m], [x["version_rule"] for x in m],
            r["hardware_ids"], r["max_hardware"], r["regions"], r["features"], r.get("purchased_at")]


class RecordTarget:
    """One topic of single records into one table."""

    def __init__(self, client: Client, *, subject: str, table: str, columns: list[str], row: RowFn,
                 what: str | None = None, evidence: RecordLog | None = None) -> None:
        self.client, self.table, self.columns, self.row = client, table, columns, row
        self.evidence = evidence
        self.name = table
        self.what = what or subject  # how a dead letter's reason names the record
        self.codec = RecordCodec(subject)

    def accept(self, msg: Message) -> Row[list[Any]] | Invalid | Skip:
        value = msg.value()
        if value is None:
            return SKIP  # a tombstone on a compacted topic: nothing to record
        try:
            return Row(self.row(self.codec.decode(value)))
        except (MeterstreamError, KeyError, TypeError) as exc:
            return Invalid(f"undecodable {self.what} record: {exc}")

    def write(self, items: Sequence[Item[list[Any]]]) -> list[tuple[Message, str]]:
        try:  # the token makes ClickHouse drop a retried insert of the same offsets (where the table keeps
            # a deduplication window); re-reads with other batch boundaries collapse in the table's key
            self.client.insert(self.table, [i.value for i in items], column_names=self.columns,
                               settings={"insert_deduplication_token": _token(self.table, items)})
        except Exception as exc:
            raise SinkError(f"insert of {len(items)} rows into {self.table} failed: {exc}") from exc
        if self.evidence is not None:  # after the insert, before the commit: see evidence/record_log.py
            try:
                self.evidence.append([(i.msg, i.value) for i in items])
            except Exception as exc:
                raise SinkError(f"appending {len(items)} {self.table} to the evidence log failed: {exc}") from exc
        return []


def _token(table: str, items: Sequence[Item[Any]]) -> str:
    """The topic-partition offset ranges of a batch: the same batch always gets the same token."""
    ranges: dict[tuple[str, int], tuple[int, int]] = {}
    for item in items:
        key, offset = (str(item.msg.topic()), int(item.msg.partition() or 0)), int(item.msg.offset() or 0)
        first, last = ranges.get(key, (offset, offset))
        ranges[key] = (min(first, offset), max(last, offset))
    return table + ":" + ";".join(f"{t}/{p}/{a}-{b}" for (t, p), (a, b) in sorted(ranges.items()))


def record_sink(settings: SinkSettings, client: Client, *, topic: str, group_suffix: str, dlq_topic: str | None,
                target: RecordTarget) -> BatchingConsumer[list[Any]]:
    """A consumer of ``topic`` into the target's table, in consumer group ``<sink_group>.<group_suffix>``."""
    return batching_consumer(settings, client, group=f"{settings.sink_group}.{group_suffix}", topics=[topic],
                             target=target, dlq_topic=dlq_topic,
                             policy=FlushPolicy(min(settings.sink_flush_rows, RECORD_FLUSH_ROWS), settings.sink_flush_ms,
                                                settings.sink_retry_max_s))


def alerts_sink(settings: SinkSettings, client: Client) -> BatchingConsumer[list[Any]]:
    log = RecordLog(client, kind="alert.v1", record=lambda row: dict(zip(ALERT_COLUMNS, row)), id_field="alert_id",
                    time_field="created_at", touched=touched_logs(settings.clickhouse_url)
                    ) if settings.evidence_enabled else None
    return record_sink(settings, client, topic=settings.alerts, group_suffix="alerts", dlq_topic=settings.alerts_dlq,
                       target=RecordTarget(client, subject="alert", table="alerts", columns=ALERT_COLUMNS,
                                           row=alert_row, evidence=log))


def licenses_sink(settings: SinkSettings, client: Client) -> BatchingConsumer[list[Any]]:
    return record_sink(settings, client, topic=settings.licenses, group_suffix="licenses", dlq_topic=None,
                       target=RecordTarget(client, subject="license", table="license_snapshots",
                                           columns=LICENSE_COLUMNS, row=license_row))


def decisions_sink(settings: SinkSettings, client: Client) -> BatchingConsumer[list[Any]]:
    return record_sink(settings, client, topic=settings.decisions, group_suffix="decisions", dlq_topic=None,
                       target=RecordTarget(client, subject="decision", table="license_decisions",
                                           columns=DECISION_COLUMNS, row=decision_row))


def releases_sink(settings: SinkSettings, client: Client) -> BatchingConsumer[list[Any]]:
    return record_sink(settings, client, topic=settings.model_releases, group_suffix="releases", dlq_topic=None,
                       target=RecordTarget(client, subject="model_release", table="model_releases",
                                           columns=RELEASE_COLUMNS, row=release_row))


__all__ = ["RecordTarget", "alerts_sink", "decisions_sink", "licenses_sink", "record_sink", "releases_sink"]

"""Generated data for the query-speed benchmark: N usage events and their neighbours, inserted by ClickHouse.

Every row is made by ``INSERT … SELECT … FROM numbers(N)`` (no Python per row), from the row number
(``cityHash64``), so two runs hold the same data (event ids aside). Events go into
``usage_events`` priced by the sink's own pricing expressions (``price_dict`` over the demo catalog),
so the rollup views fire exactly as they do behind the sink. Distributions, chosen to look like a
vendor's quarter: licenses skewed (license 0 is the busiest, ~3% of all events), each owned by one
of 20 teams; a license mostly uses one model (of four, from four providers; two priced by the
demo catalog, two not, so ``unpriced`` counts are real), one version and one feature; four metrics;
92 days (Sep–Nov 2026) in time order, as a sink receives them; 1% errors; 20% of events in
4-stage traces; 70% of events carry a decision id, 5% of those unknown to ``license_decisions``.
"""

from __future__ import annotations

import time
from importlib import resources
from pathlib import Path
from typing import Any

from meterstream.sinks.pricing.catalog import load_catalog
from meterstream.sinks.pricing.lookup import price_key, priced_columns
from meterstream.sinks.usage_writer import EVENT_COLUMNS

START, DAYS = "2026-09-01 00:00:00", 92
TEAMS = 20
BUSIEST = "lic-00000"
MODELS = "['llama-3', 'mistral-large', 'gpt-4o', 'claude-sonnet']"
PROVIDERS = "['self-hosted', 'mistral_ai', 'openai', 'anthropic']"


def _u(n: str, salt: int) -> str:
    """SQL: a uniform number in [0, 1) from row ``n`` (deterministic; ``salt`` makes columns independent)."""
    return f"(cityHash64({n}, {salt}) % 1000000 / 1000000.)"


def license_index(n: str, licenses: int) -> str:
    """SQL: the license of event ``n``, skewed (square of a uniform): a few heavy licenses, a long tail."""
    return f"toUInt32(pow({_u(n, 1)}, 2) * {licenses})"


def _events_select(first: int, count: int, total: int, licenses: int) -> str:
    """SQL: ``count`` events numbered from ``first`` of ``total``, every usage_events column the sink writes.

    Event times advance with the row number (plus up to a second of jitter), as live traffic reaches the
    sink: each insert block then covers a few hours, so the rollup views aggregate as they do in a flush."""
    lic = license_index("number", licenses)
    span_us = DAYS * 86400 * 1_000_000
    return f"""
    SELECT
        generateUUIDv4(number) AS event_id,
        toDateTime64('{START}', 6, 'UTC')
            + toIntervalMicrosecond(number * {span_us // total} + cityHash64(number, 2) % 1000000) AS event_time,
        concat('lic-', leftPad(toString(li), 5, '0')) AS license_id,
        concat('p-', toString(li % 97)) AS producer_id,
        toInt64(number) AS sequence,
        ['chat', 'embed', 'summarize'][1 + if(cityHash64(number, 3) % 5 = 0, cityHash64(number, 3), li) % 3] AS feature,
        {MODELS}[mi] AS model,
        ['1.0.0', '1.1.0', '2.0.0'][1 + if(cityHash64(number, 5) % 7 = 0, cityHash64(number, 5), li) % 3] AS model_version,
        ['input_tokens', 'output_tokens', 'cached_input_tokens', 'gpu_seconds'][
            multiIf(m < 0.45, 1, m < 0.9, 2, m < 0.95, 3, 4)] AS metric,
        toDecimal64(1 + cityHash64(number, 7) % 4000, 6) AS quantity,
        if(cityHash64(number, 8) % 100 = 0, 'error', 'ok') AS status,
        toNullable(toInt64(50000 + pow({_u('number', 9)}, 3) * 2000000)) AS latency_us,
        concat('team-', toString(li % {TEAMS})) AS team,
        concat('app-', toString(li % 5)) AS app,
        if(li % 7 = 0, 'staging', 'prod') AS environment,
        '' AS purpose,
        concat('gpu-', toString(li % 50), '-', toString(cityHash64(number, 10) % 4)) AS hardware_id,
        ['eu-west-1', 'us-east-1', 'ap-south-1'][1 + li % 3] AS region,
        if(number % 2 = 0, toNullable(hex(SHA256(toString(number)))), NULL) AS input_hash,
        CAST(NULL AS Nullable(String)) AS output_hash,
        {PROVIDERS}[mi] AS provider,
        ['library', 'otlp', 'openai-sdk'][1 + cityHash64(number, 11) % 3] AS source,
        concat('u-', toString(cityHash64(number, 12) % 10000)) AS user_id,
        concat('uc-', toString(li % 30)) AS use_case,
        CAST([] AS Array(String)) AS data_categories,
        '' AS sensitivity,
        if(number % 5 = 0, toNullable(concat('tr-', toString(intDiv(number, 20)))), NULL) AS trace_id,
        if(number % 5 = 0, ['retrieve', 'rerank', 'generate', 'judge'][1 + intDiv(number, 5) % 4], '') AS stage,
        if(cityHash64(number, 13) % 10 < 7, toNullable(concat('d-', toString(intDiv(number, 2)))), NULL)
            AS decision_id,
        CAST(NULL AS Nullable(String)) AS reservation_id,
        toInt32(li % 12) AS kafka_partition,
        toInt64(intDiv(number, 500)) AS kafka_offset
    FROM (SELECT number, {lic} AS li, {_u('number', 6)} AS m,
                 1 + if(cityHash64(number, 4) % 10 = 0, cityHash64(number, 4), li) % 4 AS mi
          FROM numbers({first}, {count}))"""


def insert_events(client: Any, events: int, licenses: int, chunk: int = 1_000_000) -> tuple[float, float]:
    """Insert ``events`` priced events in chunks (rollup views fire per insert); return wall and CPU seconds
    (CPU of the whole process, chDB's threads included: the machine is shared, so wall time alone misleads)."""
    sql = (f"INSERT INTO usage_events ({EVENT_COLUMNS}, unit_price, cost, currency, price_version, "
           f"kafka_partition, kafka_offset) SELECT {EVENT_COLUMNS}, {priced_columns()}, kafka_partition, "
           f"kafka_offset FROM (SELECT *, {price_key()} AS price_key FROM ({{select}}))")
    started, cpu = time.perf_counter(), time.process_time()
    for first in range(0, events, chunk):
        client.command(sql.replace("{select}", _events_select(first, min(chunk, events - first), events, licenses)))
    return time.perf_counter() - started, time.process_time() - cpu


def insert_neighbours(client: Any, events: int, licenses: int) -> None:
    """Prices, licenses (quotas, grants), releases, budgets, decisions and alerts that the pack joins to."""
    with resources.as_file(resources.files("meterstream").joinpath("demo_prices.csv")) as path:
        load_catalog(client, Path(path))
    lic = "concat('lic-', leftPad(toString(number), 5, '0'))"
    client.command(f"""
        INSERT INTO license_snapshots (license_id, updated_at, key_hash, tenant, tier, status,
            `quotas.metric`, `quotas.limit`, `quotas.period`, `quotas.hard`, `models.model`, `models.version_rule`)
        SELECT {lic}, toDateTime64('2026-08-01 00:00:00', 6, 'UTC'), hex(SHA256({lic})), 'acme', 'pro', 'active',
               ['output_tokens'], [toDecimal64(1000000 + number * 1000, 6)], ['month'], [0],
               if(number % 10 = 0, ['llama-3'], []), if(number % 10 = 0, ['pin:1.0.0'], [])
        FROM numbers({licenses})""")
    client.command("""
        INSERT INTO model_releases (model, version, released_at, withdrawn)
        SELECT m, v, toDateTime64('2026-06-01 00:00:00', 6, 'UTC') + toIntervalDay(30 * vi), 0
        FROM (SELECT arrayJoin(['llama-3', 'mistral-large', 'gpt-4o', 'claude-sonnet']) AS m)
        ARRAY JOIN ['1.0.0', '1.1.0', '2.0.0'] AS v, [0, 1, 2] AS vi""")
    client.command(f"""
        INSERT INTO budgets (team, month, amount, currency)
        SELECT concat('team-', toString(number % {TEAMS})), toDate('2026-09-01') + toIntervalMonth(intDiv(number, {TEAMS})),
               toDecimal64(5000, 6), 'USD'
        FROM numbers({TEAMS * 3})""")
    _insert_decisions(client, events, licenses)
    _insert_alerts(client, licenses)


def _insert_decisions(client: Any, events: int, licenses: int) -> None:
    """One decision per two events (a request: input and output), except every 20th (never validated)."""
    client.command(f"""
        INSERT INTO license_decisions (decision_id, kind, license_id, valid, code, message, tier, client,
            feature, metric, quantity, model, model_version, hardware_id, region, reservation_id, decided_at)
        SELECT concat('d-', toString(number)), 'validate',
               concat('lic-', leftPad(toString({license_index('number * 2', licenses)}), 5, '0')),
               1, 'ok', '', 'pro', '10.0.0.1', 'chat', 'inferences', toDecimal64(1, 6), 'llama-3', '1.0.0', '', '', '',
               toDateTime64('{START}', 6, 'UTC') + toIntervalMicrosecond(cityHash64(number * 2, 2) % {DAYS * 86400 * 10**6})
        FROM numbers({events // 2}) WHERE number % 20 != 0""")


def _insert_alerts(client: Any, licenses: int) -> None:
    """Threshold and anomaly alerts: ~20 per license over the quarter."""
    client.command(f"""
        INSERT INTO alerts (alert_id, kind, severity, license_id, tenant, team, metric, period, threshold, message,
            evidence, event_id, created_at)
        SELECT concat('a-', toString(number)), ['threshold', 'anomaly', 'unapproved_model'][1 + number % 3],
               ['info', 'warning', 'critical'][1 + cityHash64(number) % 3],
               concat('lic-', leftPad(toString({license_index('number', licenses)}), 5, '0')), 'acme',
               concat('team-', toString({license_index('number', licenses)} % {TEAMS})), 'output_tokens', '2026-11',
               80, 'used 80%', map('used', '800000'), NULL,
               toDateTime64('{START}', 6, 'UTC') + toIntervalMicrosecond(cityHash64(number, 2) % {DAYS * 86400 * 10**6})
        FROM numbers({licenses * 20})""")

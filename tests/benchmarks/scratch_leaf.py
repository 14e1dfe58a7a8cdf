"""Scratch: per-message leaf vs per-event leaf, CPU per event in the real write."""
from __future__ import annotations
import os, statistics, time, uuid
from typing import Any
import pytest
from meterstream.schemas import BatchCodec
from meterstream.sinks.evidence.leaf_sql import apply_evidence, leaf_select, _field, USAGE_KIND
from meterstream.sinks.evidence.verify import LEAF_SPECS
from meterstream.sinks.usage_writer import UsageWriter
from tests.benchmarks.test_sink_throughput import FLUSH_EVENTS, PER_MESSAGE, _messages
from tests.sinks.conftest import Msg

pytestmark = [pytest.mark.benchmark, pytest.mark.integration]
FLUSHES = int(os.environ.get("BENCH_SINK_FLUSHES", 4))

def batch_select() -> str:
    prefix, fields = LEAF_SPECS[USAGE_KIND]
    tup = "tuple(" + ", ".join(_field(n, k) for n, k in fields) + ")"
    return ("SELECT concat(t, '/', toString(p)) AS log, o AS kafka_offset, "
            "toString(o) AS entry_id, 'usage.batch.v3' AS kind, any(lic) AS license_id, "
            "min(et) AS entry_time, "
            "SHA256(concat(char(0), 'meterstream.usage.batch.v3\\n', formatRowNoNewline('RowBinary', arraySort(groupArray(r))))) AS leaf_hash "
            f"FROM (SELECT kafka_topic AS t, kafka_partition AS p, kafka_offset AS o, license_id AS lic, event_time AS et, {tup} AS r FROM usage_events) GROUP BY t, p, o")

def test_leaf(clickhouse: Any) -> None:
    codec, tag = BatchCodec(), uuid.uuid4().hex[:6]
    per_flush = FLUSH_EVENTS // PER_MESSAGE
    writer = UsageWriter(clickhouse, lambda m, r: None)
    res: dict[str, list[float]] = {}
    modes = ["off", "v2", "batch"]
    data = {m: _messages(codec, per_flush * FLUSHES, tag + m) for m in modes}
    for f in range(FLUSHES):
        for mode in modes:
            clickhouse.command("DROP VIEW IF EXISTS usage_evidence_v2_mv")
            clickhouse.command("DROP VIEW IF EXISTS scratch_batch_mv")
            if mode == "v2":
                apply_evidence(clickhouse, True)
            elif mode == "batch":
                clickhouse.command(f"CREATE MATERIALIZED VIEW scratch_batch_mv TO evidence_leaves AS {batch_select()}")
            msgs = [Msg(v, i, i % 4, f"bench-{tag}{mode}") for i, v in enumerate(data[mode][f * per_flush:(f + 1) * per_flush])]
            cpu, t0 = time.process_time(), time.perf_counter()
            writer.write({codec.schema.fingerprint: (codec.schema.schema, msgs)})
            res.setdefault(mode, []).append((time.process_time() - cpu) / FLUSH_EVENTS * 1e6)
    for mode, v in res.items():
        print(mode, [round(x, 2) for x in v], "median", round(statistics.median(v), 2))
    print(clickhouse.query("SELECT kind, count(), uniqExact(log, kafka_offset) FROM evidence_leaves GROUP BY kind").result_rows)

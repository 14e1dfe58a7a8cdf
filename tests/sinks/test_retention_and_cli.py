"""Retention setting -> TTL on usage_events; query output formats of `meterstream sql`."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from decimal import Decimal

import pytest

from meterstream.sinks.query_pack import names, parameters, render, text
from meterstream.sinks.retention import apply_retention


def _ttl(client, table: str = "usage_events") -> str:
    return str(client.command("SELECT create_table_query FROM system.tables WHERE database = currentDatabase() "
                              "AND name = {t:String}", parameters={"t": table}))


@pytest.mark.integration
def test_retention_sets_and_removes_the_ttl(clickhouse) -> None:
    apply_retention(clickhouse, 1200)  # far beyond any test data: other tests' rows must survive
    assert "toIntervalMonth(1200)" in _ttl(clickhouse)
    assert "toIntervalMonth(1200)" in _ttl(clickhouse, "evidence_leaves")  # the bodies go with their events
    apply_retention(clickhouse, 0)
    assert " TTL " not in _ttl(clickhouse) and " TTL " not in _ttl(clickhouse, "evidence_leaves")
    clickhouse.command("ALTER TABLE usage_events MODIFY TTL toStartOfMonth(event_time) + INTERVAL 1200 MONTH")
    apply_retention(clickhouse, 1200)  # a store upgraded with the usage TTL already set: the bodies get theirs
    assert "toIntervalMonth(1200)" in _ttl(clickhouse, "evidence_leaves")
    apply_retention(clickhouse, 0)


def test_render_formats_keep_decimals_exact() -> None:
    cols, rows = ["team", "spend", "month"], [("a", Decimal("0.000000000000000001"), date(2026, 11, 1))]
    assert list(csv.reader(io.StringIO(render(cols, rows, "csv")))) == [cols, ["a", "0.000000000000000001", "2026-11-01"]]
    assert json.loads(render(cols, rows, "json")) == {"team": "a", "spend": "0.000000000000000001", "month": "2026-11-01"}
    table = render(cols, rows, "table").splitlines()
    assert table[0].split() == cols and table[2].split() == ["a", "0.000000000000000001", "2026-11-01"] and table[-1] == "(1 rows)"


def test_every_pack_entry_declares_its_parameters() -> None:
    assert len(names()) >= 10
    for name in names():
        sql = text(name)
        assert sql.lstrip().startswith("--"), f"{name} needs a header comment"
        for p in parameters(sql):
            assert p in sql.split("SELECT")[0] or "Params" in sql, name

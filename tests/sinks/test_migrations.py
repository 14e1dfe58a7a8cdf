"""Upgrading a store of the release before usage event v2: every rollup total kept, new keys added."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def test_upgrade_keeps_rollup_totals_even_of_expired_raw_months(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "tests.sinks.migration_child", str(tmp_path / "db")],
                         capture_output=True, text=True, timeout=300, cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["before"]["usage_monthly"] and any(r[1].startswith("2026-01") for r in got["before"]["usage_monthly"])
    assert got["after"] == got["before"]  # January's totals survive though its raw events are gone
    assert got["applied"] == ["0006_usage_v2.sql", "0007_rollup_keys_v2.sql", "0010_evidence_log.sql",
                              "0060_rollup_daily_without_hardware.sql", "0061_usage_spend.sql",
                              "0062_usage_license_monthly.sql", "0070_evidence_batch_leaves.sql"]
    assert got["spend"] == got["spend_before"] and got["spend"]  # usage_spend filled, January included
    assert got["by_license"]["usage_license_monthly"] == got["by_license"]["usage_monthly"]
    assert got["again"] == []
    assert got["keys"] == [["", "", ""]]
    for _, key in got["sorting"]:
        assert key.endswith("provider, use_case, stage")

"""Known usage in February 2024 (a month no other test writes), written through the real write path,
and a headless Chromium to look at the pages with."""

from __future__ import annotations

import shutil
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator

import pytest

from meterstream.sinks.budgets import load_budgets
from meterstream.sinks.pricing.catalog import load_catalog
from meterstream.sinks.record_sink import ALERT_COLUMNS, LICENSE_COLUMNS, alert_row, license_row
from meterstream.sinks.webhooks.delivery_log import COLUMNS as DELIVERY_COLUMNS
from tests.conftest import IN_CI
from tests.sinks.conftest import batch, write

UTC = timezone.utc
D = Decimal
CHROMIUM = "/usr/bin/chromium"


def _batch(license_id: str, n: int, day: int, *, app: str, **kw: Any) -> dict[str, list[Any]]:
    b = batch(license_id, n, when=datetime(2024, 2, day, 9), **kw)
    b["app"] = [app] * n
    return b


@pytest.fixture(scope="module")
def feb(clickhouse, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Two teams, three licenses (one unknown), two models, prices, budgets, quotas, alerts, deliveries."""
    import uuid

    tag = uuid.uuid4().hex[:6]
    tmp = tmp_path_factory.mktemp("feb")
    ma, mb = f"alpha-{tag}", f"beta-{tag}"
    ta, tb = f"fin-{tag}", f"eng-{tag}"
    l1, l2, l3 = (f"lic{i}-{tag}" for i in (1, 2, 3))
    cat = tmp / "prices.csv"
    cat.write_text("model,version_pattern,metric,unit_price,currency,effective_from,effective_to,tier_from\n"
                   f"{ma},*,input_tokens,0.001,USD,2024-01-01,,0\n{mb},*,input_tokens,0.002,USD,2024-01-01,,0\n")
    load_catalog(clickhouse, cat)
    assert not write(clickhouse,
                     _batch(l1, 10, 3, app="chat", model=ma, team=ta, quantity=100_000_000, latency=1000),  # $1
                     _batch(l1, 5, 10, app="chat", model=ma, team=ta, quantity=100_000_000, status="error",
                            latency=3000),                                                                # $0.5
                     _batch(l2, 4, 5, app="search", model=mb, version="2.0.0", team=tb, quantity=250_000_000,
                            latency=2000),                                                                # $2
                     _batch(l3, 2, 6, app="search", model=ma, team=tb, quantity=1_000_000, latency=500))  # $0.002
    budgets = tmp / "budgets.csv"
    budgets.write_text(f"team,month,amount,currency\n{ta},2024-02,1.00,USD\n{tb},2024-02,5,USD\n")
    load_budgets(clickhouse, budgets)
    t = datetime(2024, 2, 1, tzinfo=UTC)
    lic = {"key_hash": "", "tenant": "acme", "tier": "pro", "status": "active", "not_before": None,
           "expires_at": None, "hardware_ids": [], "max_hardware": None, "regions": [], "features": []}
    clickhouse.insert("license_snapshots", [
        license_row({**lic, "license_id": l1, "updated_at": t, "models": [{"model": ma, "version_rule": "latest"}],
                     "quotas": [{"metric": "input_tokens", "limit": D(2000), "period": "month", "hard": False}]}),
        license_row({**lic, "license_id": l2, "updated_at": t, "models": [{"model": mb, "version_rule": "pin:1.0.0"}],
                     "quotas": [{"metric": "input_tokens", "limit": D(1250), "period": "month", "hard": True}]}),
    ], column_names=LICENSE_COLUMNS)
    alert = {"severity": "warning", "tenant": "acme", "metric": "input_tokens", "period": "2024-02",
             "threshold": None, "message": "", "evidence": {}, "event_id": None}
    clickhouse.insert("alerts", [
        alert_row({**alert, "alert_id": f"{tag}-t", "kind": "threshold", "threshold": 80, "license_id": l2,
                   "team": tb, "created_at": datetime(2024, 2, 5, 10, tzinfo=UTC)}),
        alert_row({**alert, "alert_id": f"{tag}-s", "kind": "spend_spike", "license_id": l1, "team": ta,
                   "message": "spend 5x the usual", "created_at": datetime(2024, 2, 10, 10, tzinfo=UTC)}),
    ], column_names=ALERT_COLUMNS)
    attempt = {"delivery_id": f"d-{tag}", "alert_id": f"{tag}-t", "endpoint_id": f"ep-{tag}", "license_id": l2,
               "url": "http://127.0.0.1:9/hooks", "next_attempt_at": None}
    clickhouse.insert("webhook_deliveries", [[r[c] for c in DELIVERY_COLUMNS] for r in [
        {**attempt, "attempt_id": f"a1-{tag}", "attempt": 1, "status_code": 503, "latency_us": 4000, "error": "503",
         "attempted_at": datetime(2024, 2, 5, 10, 0, 1, tzinfo=UTC), "outcome": "retry"},
        {**attempt, "attempt_id": f"a2-{tag}", "attempt": 2, "status_code": 204, "latency_us": 2000, "error": None,
         "attempted_at": datetime(2024, 2, 5, 10, 0, 6, tzinfo=UTC), "outcome": "delivered"}]],
        column_names=DELIVERY_COLUMNS)
    return {"ma": ma, "mb": mb, "ta": ta, "tb": tb, "l1": l1, "l2": l2, "l3": l3, "tag": tag}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium driven by Playwright (no browser download). Missing in CI fails, like Kafka.

    Module-scoped: Playwright's sync API keeps an event loop running on this thread while it is open,
    which later tests calling ``asyncio.run`` must not find.
    """
    if shutil.which(CHROMIUM) is None or not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} is missing (apt-get install chromium; `make test` installs it)"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()

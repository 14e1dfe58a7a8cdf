"""A small organisation governed through the real pipeline (issue 11's "done when").

3 teams (one license each), 5 applications of which 1 unregistered, 4 models of which 1 unapproved and 1
restricted, the sample policy, an exception, prices and budgets, all published on their topics; traffic
from the producer library through Kafka to the Faust processor and the ClickHouse sink. Checked: every
expected violation exactly once and none for compliant traffic, the exception suppressing its violation
until it expires, the budget thresholds in money, the check path and validate/reserve by key refusing a
blocked use, remediation, and the answer of each compliance query.
"""

from __future__ import annotations

import tempfile
import threading
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from meterstream.config import KafkaSettings, Topics
from meterstream.process import get_json, spawn, terminate, wait_http
from meterstream.producers import Meter, ProducerSettings
from meterstream.sinks import query_pack
from meterstream.sinks.clickhouse import connect
from meterstream.sinks.governance_sink import governance_sink
from meterstream.sinks.pricing.catalog import load_catalog, parse_catalog
from meterstream.sinks.pricing.publish import publish_catalog
from meterstream.sinks.record_sink import alerts_sink
from meterstream.sinks.settings import SinkSettings
from meterstream.sinks.usage_sink import usage_sink
from meterstream.stream_processors.governance.admin import GovernanceAdmin
from meterstream.stream_processors.license import LicenseAdmin, LicenseTerms
from meterstream.stream_processors.license.terms import hash_key
from tests.helpers import free_port, wait_for
from tests.stream_processors.licensing import call
from tests.stream_processors.governance.org import PRICES_CSV, SAMPLE_POLICY, TEAMS, budgets, models, use_cases

pytestmark = pytest.mark.integration
US = 1_000_000
MIN = 60 * US
TAG = uuid.uuid4().hex[:6]
LIC = {team: f"lic-{team}-{TAG}" for team in TEAMS}
TEAM = {team: f"{team}-{TAG}" for team in TEAMS}  # team names of this run: the ClickHouse store is shared
NOW = datetime.now(timezone.utc)
BASE = NOW.replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)  # one hour of events, one UTC day
T = int(BASE.timestamp()) * US
MONTH = BASE.strftime("%Y-%m")
SUPPORT_KEY = f"key-support-{TAG}"  # the support license's key: validate and reserve by key

# (team, minute, n, tags): every message of the test. Expected violations are listed beside their traffic.
TRAFFIC: list[tuple[str, int, int, dict[str, Any]]] = [
    ("support", 1, 10, dict(use_case="support-bot", model="gpt-4o", environment="prod", quantity=850,
                            data_categories=["customer"])),  # compliant; 85 USD: 80 % of support's budget
    ("support", 2, 5, dict(use_case="support-bot", model="claude-x", environment="prod")),  # restricted-model
    ("support", 3, 10, dict(use_case="support-bot", model="gpt-4o", environment="prod", quantity=200,
                            data_categories=["customer"])),  # compliant; 105 USD: 100 %
    ("research", 1, 10, dict(use_case="code-assist", model="llama-3", environment="prod")),  # compliant
    ("research", 2, 5, dict(use_case="code-assist", model="mystery-7b", environment="prod")),  # prod-approved
    ("research", 3, 5, dict(app="shadow-app", model="llama-3", environment="dev", user_id="rex")),  # unregistered
    ("research", 4, 5, dict(use_case="code-assist", model="llama-3", environment="staging")),  # outside-env
    ("research", 5, 10, dict(use_case="code-assist", model="llama-3", environment="prod")),  # compliant again
    ("finance", 1, 4, dict(use_case="claims-triage", model="gpt-4o", environment="prod", user_id=["u1", "u2"],
                           data_categories=["customer"])),  # new-user x2
    ("finance", 2, 4, dict(use_case="claims-triage", model="gpt-4o", environment="prod", user_id="u1",
                           data_categories=["customer"])),  # u1 is not new any more
    ("finance", 3, 3, dict(use_case="notes-summary", model="mystery-7b", environment="dev",
                           data_categories=["customer"])),  # customer-data-unreviewed-model
    ("finance", 4, 3, dict(use_case="notes-summary", model="llama-3", environment="dev",
                           sensitivity="regulated")),  # prompt-logging: excepted (exception until minute 10)
    ("finance", 20, 3, dict(use_case="notes-summary", model="llama-3", environment="dev",
                            sensitivity="regulated")),  # prompt-logging: violation (the exception expired)
]
EXPECTED_BY_ROLE = Counter({
    ("policy_violation", "restricted-model-internal-only", "support"): 1,
    ("policy_violation", "prod-approved-models-only", "research"): 1,
    ("policy_violation", "unregistered-application", "research"): 1,
    ("policy_violation", "outside-registered-environment", "research"): 1,
    ("policy_violation", "new-user-restricted-use-case", "finance"): 2,
    ("policy_violation", "customer-data-unreviewed-model", "finance"): 1,
    ("policy_violation", "prompt-logging-regulated-data", "finance"): 1,
    ("policy_excepted", "prompt-logging-regulated-data", "finance"): 1,
    ("budget_threshold", "80", "support"): 1,
    ("budget_threshold", "100", "support"): 1,
})
EXPECTED = Counter({(kind, what, TEAM[team]): n for (kind, what, team), n in EXPECTED_BY_ROLE.items()})


def publish_organisation(kafka: KafkaSettings, topics: Topics, ch: Any, tmp_path: Path) -> str:
    """Licenses, inventory, the sample policy, prices (as `meterstream prices load` does: into ClickHouse and
    onto the prices topic), budgets and one exception; returns the exception id."""
    catalog = tmp_path / "prices.csv"
    catalog.write_text(PRICES_CSV)
    publish_catalog(kafka, topics, load_catalog(ch, catalog), parse_catalog(catalog))
    with LicenseAdmin(kafka, topics) as licenses:
        licenses.publish_many([LicenseTerms(license_id=lic, tenant="acme",
                                            key_hash=hash_key(SUPPORT_KEY) if team == "support" else "")
                               for team, lic in LIC.items()])
    with GovernanceAdmin(kafka, topics) as admin:
        admin.ensure_topics()
        for item in models() + use_cases():
            admin.put_item(item)
        admin.load_policy(SAMPLE_POLICY, by="ciso")
        admin.put_budgets(budgets(MONTH, support_team=TEAM["support"]))
        return admin.grant("prompt-logging-regulated-data", "pilot with logging on", "ciso", T + 10 * MIN,
                           {"use_case": "notes-summary"}, requested_by="fay", starts_at_us=T - 60 * MIN).exception_id


def produce_traffic(settings: ProducerSettings) -> int:
    with Meter(settings, provider="test", batch_max_events=1000, linger_ms=10_000) as meter:
        for team, minute, n, tags in TRAFFIC:
            tags = dict(tags)
            qty, users = tags.pop("quantity", 100), tags.pop("user_id", "")
            for i in range(n):
                user = users[i % len(users)] if isinstance(users, list) else users
                meter.record(LIC[team], "input_tokens", qty, team=TEAM[team], user_id=user,
                             event_time_us=T + minute * MIN + i * US, **tags)
            meter.flush()  # one message per traffic line, in order
    return sum(n for _, _, n, _ in TRAFFIC)


def start_sinks(kafka_env: dict[str, str], prefix: str, url: str, stop: threading.Event) -> list[threading.Thread]:
    settings = SinkSettings(kafka_bootstrap_servers=kafka_env["METERSTREAM_KAFKA_BOOTSTRAP_SERVERS"],
                            topic_prefix=prefix, sink_group=kafka_env["METERSTREAM_SINK_GROUP"],
                            clickhouse_url=url, sink_flush_ms=200)
    sinks = [usage_sink(settings, connect(url)), alerts_sink(settings, connect(url)),
             governance_sink(settings, connect(url))]
    threads = [threading.Thread(target=s.run, args=(stop,), daemon=True) for s in sinks]
    for t in threads:
        t.start()
    return threads


def rows(ch: Any, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in ch.query(sql, parameters=params or None).result_rows]


def pack(ch: Any, name: str, **params: str) -> list[dict[str, Any]]:
    columns, result = query_pack.run(ch, query_pack.text(name), params)
    return [dict(zip(columns, r)) for r in result]


def governance_alerts(ch: Any) -> Counter[tuple[str, str, str]]:
    found = rows(ch, "SELECT kind, if(kind = 'budget_threshold', toString(threshold), evidence['rule_id']), team "
                     "FROM alerts FINAL WHERE (license_id IN {lics:Array(String)} OR evidence['scope'] IN "
                     "{teams:Array(String)}) AND kind IN ('policy_violation', 'policy_excepted', 'budget_threshold')",
                 lics=list(LIC.values()), teams=list(TEAM.values()))
    return Counter(found)  # type: ignore[arg-type]


def test_small_organisation_through_the_pipeline(kafka_env, topics, clickhouse, clickhouse_url, tmp_path: Path) -> None:
    kafka = KafkaSettings(kafka_bootstrap_servers=kafka_env["METERSTREAM_KAFKA_BOOTSTRAP_SERVERS"])
    exception_id = publish_organisation(kafka, topics, clickhouse, tmp_path)
    port = free_port()
    env = {**kafka_env, "METERSTREAM_PROCESSOR_WEB_PORT": str(port),
           "METERSTREAM_PROCESSOR_DATA_DIR": str(tmp_path / "processor")}
    processor = spawn(["processor"], tmp_path / "processor.log", env)
    stop = threading.Event()
    threads: list[threading.Thread] = []
    try:
        wait_http(f"http://127.0.0.1:{port}/totals/", 120, processor)
        threads = start_sinks(kafka_env, topics.topic_prefix, clickhouse_url, stop)
        settings = ProducerSettings(kafka_bootstrap_servers=kafka.kafka_bootstrap_servers,
                                    topic_prefix=topics.topic_prefix, spool_dir=tmp_path / "spool")
        total = produce_traffic(settings)
        wait_for(lambda: rows(clickhouse, "SELECT count() FROM usage_events WHERE license_id IN {l:Array(String)}",
                              l=list(LIC.values()))[0][0] >= total, 120, what="events in ClickHouse")
        wait_for(lambda: governance_alerts(clickhouse) == EXPECTED, 90,
                 what=f"exactly the expected alerts {dict(EXPECTED)}; got {dict(governance_alerts(clickhouse))}")
        time.sleep(2.0)  # anything that would be a second copy or an unexpected violation
        assert governance_alerts(clickhouse) == EXPECTED
        check_blocked_at_check(port)
        check_blocked_at_validate(port)
        resolved = remediate(kafka, topics, clickhouse)
        check_compliance_queries(clickhouse, exception_id, resolved)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
        terminate(processor)


def check_blocked_at_check(port: int) -> None:
    url = f"http://127.0.0.1:{port}/v1/licenses/{LIC['support']}/check?metric=input_tokens&quantity=1"
    blocked = get_json(url + "&use_case=support-bot&model=claude-x&environment=prod")
    assert blocked["decision"] == "policy_blocked"
    assert blocked["policy"]["rule_id"] == "restricted-model-internal-only"
    assert get_json(url + "&use_case=support-bot&model=gpt-4o&environment=prod")["decision"] == "allow"


def check_blocked_at_validate(port: int) -> None:
    """Validate and reserve by key judge the same blocking rules (after the license's own terms)."""
    url = f"http://127.0.0.1:{port}"
    body = {"metric": "input_tokens", "quantity": "1", "use_case": "support-bot", "environment": "prod"}
    wait_for(lambda: call(url, "/v1/validate", SUPPORT_KEY, {**body, "model": "gpt-4o"})[1].get("code") == "ok", 60,
             what="the worker knows the support license's key")
    status, blocked = call(url, "/v1/validate", SUPPORT_KEY, {**body, "model": "claude-x"})
    assert (status, blocked["valid"], blocked["code"]) == (200, False, "policy_blocked"), blocked
    assert blocked["license_id"] == LIC["support"] and blocked["decision_id"].startswith("dec_")
    assert blocked["policy"]["rule_id"] == "restricted-model-internal-only"
    status, held = call(url, "/v1/reservations", SUPPORT_KEY, {**body, "model": "claude-x", "ttl_s": 5})
    assert (held["code"], held["reservation_id"]) == ("policy_blocked", None), held
    status, held = call(url, "/v1/reservations", SUPPORT_KEY, {**body, "model": "gpt-4o", "ttl_s": 5})
    assert held["valid"] and held["policy"] is None and held["reservation_id"], held
    status, released = call(url, f"/v1/reservations/{held['reservation_id']}", SUPPORT_KEY, method="DELETE")
    assert released["released"] is True, released
    status, bad = call(url, "/v1/validate", SUPPORT_KEY, {**body, "data_categories": "customer", "use_case": 7})
    assert (status, bad["field"]) == (400, "use_case"), bad
    # data_categories as a list: prompt logging on PCI data needs an exception (the test's one has expired)
    needs = call(url, "/v1/validate", SUPPORT_KEY, {"metric": "input_tokens", "use_case": "notes-summary",
                                                    "model": "llama-3", "environment": "dev",
                                                    "data_categories": ["pci"]})[1]
    assert needs["code"] == "exception_required", needs
    check_blocked_through_the_library(url)


def check_blocked_through_the_library(url: str) -> None:
    """Meter.validate/reserve send the governance context (Meter defaults and call arguments), so the
    library path meets the same rules as the HTTP calls above."""
    with tempfile.TemporaryDirectory() as spool, Meter(
            quota_url=url, use_case="support-bot", environment="prod", model="gpt-4o", check_timeout_ms=10_000,
            spool_dir=Path(spool)) as meter:
        assert meter.validate(SUPPORT_KEY, metric="input_tokens").code == "ok"
        assert meter.validate(SUPPORT_KEY, metric="input_tokens", model="claude-x").code == "policy_blocked"
        assert meter.reserve(SUPPORT_KEY, "input_tokens", 1, ttl_s=5, model="claude-x").code == "policy_blocked"
        needs = meter.validate(SUPPORT_KEY, metric="input_tokens", use_case="notes-summary", model="llama-3",
                               environment="dev", data_categories=["pci"])
        assert needs.code == "exception_required", needs


def remediate(kafka: KafkaSettings, topics: Topics, ch: Any) -> str:
    """Resolve the shadow-AI violation with a note; it lands in alert_actions."""
    (alert_id,), = rows(ch, "SELECT alert_id FROM alerts FINAL WHERE evidence['rule_id'] = 'unregistered-application' "
                            "AND license_id = {l:String}", l=LIC["research"])
    with GovernanceAdmin(kafka, topics) as admin:
        admin.alert_action(alert_id, "acknowledge", "sec-oncall", "looking")
        admin.alert_action(alert_id, "resolve", "sec-oncall", "shadow-app registered as code-assist-2")
    wait_for(lambda: rows(ch, "SELECT count() FROM alert_actions FINAL WHERE alert_id = {a:String}",
                          a=alert_id)[0][0] == 2, 60, what="alert actions in ClickHouse")
    return str(alert_id)


def check_compliance_queries(ch: Any, exception_id: str, resolved: str) -> None:
    rng = {"start": (BASE - timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S"),
           "end": (NOW + timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")}
    mine = set(TEAM.values())
    by_team = {(r["team"], r["rule_id"], r["kind"]): (r["alerts"], r["resolved"])
               for r in pack(ch, "violations_by_team", **rng) if r["team"] in mine}
    assert by_team == {(t, rule, kind): (n, 1 if rule == "unregistered-application" else 0)
                       for (kind, rule, t), n in EXPECTED.items() if kind != "budget_threshold"}
    unapproved = [r for r in pack(ch, "models_without_approval", **rng) if set(r["teams"]) & mine]
    assert [(r["model"], r["status"], r["teams"], r["events"]) for r in unapproved] == \
        [("mystery-7b", "proposed", sorted([TEAM["finance"], TEAM["research"]]), 8)]
    shadow = [r for r in pack(ch, "shadow_applications", **rng) if set(r["teams"]) & mine]
    assert [(r["application"], r["teams"], r["models"], r["users"], r["events"]) for r in shadow] == \
        [("shadow-app", [TEAM["research"]], ["llama-3"], 1, 5)]
    at = (BASE - timedelta(minutes=30)).strftime("%Y-%m-%d %H:%M:%S")
    assert exception_id in [r["exception_id"] for r in pack(ch, "expiring_exceptions", at=at, days="1")]
    later = (BASE + timedelta(minutes=30)).strftime("%Y-%m-%d %H:%M:%S")
    assert exception_id not in [r["exception_id"] for r in pack(ch, "expiring_exceptions", at=later, days="1")]
    customer = {r["model"]: r for r in pack(ch, "models_on_data_category", **rng, category="customer")
                if set(r["teams"]) & mine}
    assert {m: (r["status"], r["approved_by"], r["use_cases"]) for m, r in customer.items()} == {
        "gpt-4o": ("approved", "cto", ["claims-triage", "support-bot"]),
        "mystery-7b": ("proposed", "research-lead", ["notes-summary"])}
    check_evidence_and_summary(ch, rng, resolved)


def check_evidence_and_summary(ch: Any, rng: dict[str, str], resolved: str) -> None:
    sections = Counter(r["section"] for r in pack(ch, "evidence_bundle", use_case="notes-summary", **rng))
    assert sections["usage"] == 2 and sections["policy_check"] == 3 and sections["exception"] >= 1
    assert sections["approval"] >= 3  # the use case, llama-3 and mystery-7b
    bundle = pack(ch, "evidence_bundle", use_case="shadow-app", **rng)
    assert [r["detail"].split(":")[0] for r in bundle if r["section"] == "remediation"] == ["acknowledge", "resolve"]
    month = BASE.strftime("%Y-%m-01")
    role = {name: team for team, name in TEAM.items()}
    summary = {role[r["team"]]: r for r in pack(ch, "executive_summary", start_month=month, end_month=month)
               if r["team"] in role and r["currency"] == "USD"}  # unpriced events (claude-x) have no currency
    assert {t: (r["violations"], r["open_violations"]) for t, r in summary.items()} == {
        "support": (1, 1), "research": (3, 2), "finance": (4, 4)}
    assert str(summary["support"]["spend"]).startswith("105") and summary["research"]["shadow_events"] == 5
    assert summary["finance"]["users"] == 3  # '', u1, u2 (among the priced events)

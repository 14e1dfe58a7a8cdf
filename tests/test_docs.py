"""docs/configuration.md documents every setting, once, with its default, and nothing else.

Settings tables are the Markdown tables whose header starts with ``| setting |``;
their first cell is ``METERSTREAM_<FIELD>``. Environment variables read outside
the settings classes live in a table headed ``| variable |`` and are not checked here.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

from meterstream.config import KafkaSettings, Topics

DOC = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"
ROW = re.compile(r"^\|\s*`METERSTREAM_([A-Z0-9_]+)`\s*\|\s*([^|]*?)\s*\|")
NOT_DOCUMENTED: set[str] = set()


def settings_classes() -> list[type[BaseSettings]]:
    pytest.importorskip("faust")  # the pipeline extra: processors, sink and webhooks
    from meterstream.producers.otlp.settings import OtlpSettings
    from meterstream.producers.settings import ProducerSettings
    from meterstream.sinks.reports.settings import ReportSettings
    from meterstream.sinks.settings import ClickHouseSettings, SinkSettings
    from meterstream.sinks.webhooks.settings import WebhookSettings
    from meterstream.stream_processors.settings import ProcessorSettings

    return [KafkaSettings, Topics, ClickHouseSettings, ProducerSettings, ProcessorSettings, SinkSettings,
            WebhookSettings, ReportSettings, OtlpSettings]


def fields() -> dict[str, FieldInfo]:
    out: dict[str, FieldInfo] = {}
    for cls in settings_classes():
        assert cls.model_config.get("env_prefix") == "METERSTREAM_", cls
        out.update(cls.model_fields)
    return {name: f for name, f in out.items() if name not in NOT_DOCUMENTED}


def documented() -> list[tuple[str, str]]:
    """(field name, default cell) of every row of a settings table, in order."""
    rows, in_settings_table = [], False
    for line in DOC.read_text().splitlines():
        if not line.startswith("|"):
            in_settings_table = False
        elif re.match(r"^\|\s*setting\s*\|", line):
            in_settings_table = True
        elif in_settings_table and (m := ROW.match(line)):
            rows.append((m.group(1).lower(), m.group(2)))
    return rows


def test_every_documented_setting_exists() -> None:
    known = fields()
    unknown = [name for name, _ in documented() if name not in known]
    assert not unknown, f"docs/configuration.md documents settings no class has: {unknown}"


def test_every_setting_is_documented_once() -> None:
    names = [name for name, _ in documented()]
    missing = sorted(set(fields()) - set(names))
    twice = sorted({n for n in names if names.count(n) > 1})
    assert not missing, f"settings missing from docs/configuration.md: {missing}"
    assert not twice, f"settings documented more than once: {twice}"


def _same(cell: str, default: Any) -> bool:
    text = cell.strip().strip("`")
    if default is None:
        return text == "unset"
    if isinstance(default, bool):
        return text == str(default).lower()
    if isinstance(default, (int, float)):
        try:
            return float(text) == float(default)
        except ValueError:
            return False
    if default == "":
        return text == '""'
    return text == str(default)


def test_documented_defaults_match() -> None:
    known = fields()
    wrong = []
    for name, cell in documented():
        f = known.get(name)
        if f is None or f.default_factory is not None:
            continue  # unknown (reported above) or computed at run time (data dir, lists)
        if not _same(cell, f.default):
            wrong.append(f"{name}: documented {cell!r}, default {f.default!r}")
    assert not wrong, "docs/configuration.md defaults differ from the code:\n" + "\n".join(wrong)


def test_every_decision_code_and_alert_kind_is_documented() -> None:
    """A client branches on these strings: each must be explained in the docs."""
    pytest.importorskip("faust")
    from meterstream.stream_processors.alerts import SEVERITY
    from meterstream.stream_processors.validation import CODES

    docs = " ".join(p.read_text() for p in DOC.parent.glob("*.md"))
    missing = [f"`{name}`" for name in (*CODES, *SEVERITY) if f"`{name}`" not in docs]
    assert not missing, f"undocumented decision codes or alert kinds: {missing}"

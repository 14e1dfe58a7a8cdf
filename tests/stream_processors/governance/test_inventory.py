"""The inventory: lifecycle steps, records, YAML import/export."""

from __future__ import annotations

from datetime import date

import pytest

from meterstream.schemas import RecordCodec
from meterstream.stream_processors.governance.errors import InventoryError
from meterstream.stream_processors.governance.inventory import InventoryItem
from meterstream.stream_processors.governance.yaml_io import dump_inventory, parse_inventory
from tests.stream_processors.governance.org import models, use_cases


def test_lifecycle_allows_only_its_steps_and_names_who_approved() -> None:
    m = InventoryItem("model", "m", status="proposed")
    reviewed = m.step_to("in_review", "raj").step_to("approved", "cto", "passed review")
    assert (reviewed.status, reviewed.changed_by, reviewed.change_note) == ("approved", "cto", "passed review")
    assert reviewed.step_to("restricted", "risk").step_to("approved", "risk").status == "approved"
    with pytest.raises(InventoryError, match="cannot go from proposed to approved"):
        m.step_to("approved", "cto")
    with pytest.raises(InventoryError, match="retired is final"):
        m.step_to("retired", "cto").step_to("in_review", "cto")
    with pytest.raises(InventoryError, match="who approved"):
        m.step_to("in_review", "")
    with pytest.raises(InventoryError, match="status must be"):
        InventoryItem("model", "m", status="blessed")


def test_records_round_trip_through_avro() -> None:
    codec = RecordCodec("inventory")
    for item in models() + use_cases() + [InventoryItem("model", "x", review_date=date(2026, 5, 1), updated_at_us=7)]:
        assert InventoryItem.from_record(codec.decode(codec.encode(item.to_record()))) == item


def test_yaml_export_imports_back_to_the_same_entries() -> None:
    items = models() + use_cases() + [InventoryItem("model", "x", review_date=date(2026, 5, 1))]
    text = dump_inventory(items)
    assert "support-bot" in text and "updated_at" not in text
    assert sorted(parse_inventory(text), key=lambda i: i.key) == sorted(items, key=lambda i: i.key)
    with pytest.raises(InventoryError, match="unknown fields colour"):
        parse_inventory("models:\n  - id: a\n    colour: red\n")

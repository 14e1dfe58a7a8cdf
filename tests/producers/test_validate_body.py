"""What Meter.validate/reserve send: the call's terms and the governance context, Meter defaults filled in."""

from __future__ import annotations

from typing import Any, Callable

import pytest

from meterstream.producers import InvalidEventError, Meter


def test_the_governance_context_is_sent_with_the_meter_defaults(offline_meter: Callable[..., Meter]) -> None:
    meter = offline_meter(model="m", team="search", app="chat", environment="prod", use_case="support-bot",
                          sensitivity="internal", data_categories=["customer"], provider="self-hosted")
    body = meter._body("inferences", 1, None, None, None, None, None,  # noqa: SLF001 - the body is the contract
                       context={"user_id": "u-7", "app": "batch", "data_categories": ["pci", "customer", "pci"]})
    assert body["model"] == "m" and body["team"] == "search" and body["environment"] == "prod"
    assert body["app"] == "batch" and body["user_id"] == "u-7" and body["source"] == "library"
    assert body["use_case"] == "support-bot" and body["sensitivity"] == "internal"
    assert body["data_categories"] == ["customer", "pci"] and body["provider"] == "self-hosted"
    assert "data_categories" not in offline_meter()._body("inferences", 1, None, None, None, None, None)  # noqa: SLF001


@pytest.mark.parametrize("context, field", [({"data_categories": "pci"}, "data_categories"),
                                            ({"use_case": 7}, "use_case"), ({"user_id": "x" * 10_000}, "user_id")])
def test_a_bad_context_value_names_its_field(offline_meter: Callable[..., Meter], context: dict[str, Any],
                                              field: str) -> None:
    with pytest.raises(InvalidEventError) as info:
        offline_meter(quota_url="http://127.0.0.1:9").validate("key", **context)
    assert info.value.field == field


def test_an_unknown_keyword_is_refused_not_sent(offline_meter: Callable[..., Meter]) -> None:
    with pytest.raises(TypeError, match="use_cas"):
        offline_meter(quota_url="http://127.0.0.1:9").validate("key", use_cas="typo")


@pytest.mark.parametrize("categories", [[f"c{i}" for i in range(33)], ["pci", ""], ["pci", 7]])
def test_data_categories_are_checked_as_record_checks_them(offline_meter: Callable[..., Meter],
                                                           categories: list[Any]) -> None:
    """validate/reserve refuse what record() refuses (too many tags, an empty or non-string one)."""
    with pytest.raises(InvalidEventError) as info:
        offline_meter(quota_url="http://127.0.0.1:9").validate("key", data_categories=categories)
    assert info.value.field == "data_categories"


def test_an_overlong_key_says_so(offline_meter: Callable[..., Meter]) -> None:
    with pytest.raises(InvalidEventError, match="longer than"):
        offline_meter(quota_url="http://127.0.0.1:9").validate("k" * 5000)

"""Subscriptions, secret encryption and delivery ids (unit tests, no broker)."""

from __future__ import annotations

import json

import pytest
from pydantic import SecretStr

from meterstream.sinks.webhooks.endpoints import Endpoint
from meterstream.sinks.webhooks.errors import MasterKeyError
from meterstream.sinks.webhooks.payload import alert_body, delivery_id
from meterstream.sinks.webhooks.secret_box import SecretBox, generate_master_key

from .helpers import alert


@pytest.mark.parametrize("filters,matching", [
    ({}, True),
    ({"license_ids": ["lic-1", "lic-9"]}, True),
    ({"license_ids": ["lic-2"]}, False),
    ({"tenants": ["acme"], "kinds": ["threshold"]}, True),
    ({"tenants": ["acme"], "kinds": ["anomaly"]}, False),
    ({"enabled": False}, False),
])
def test_subscription_filters(filters: dict, matching: bool) -> None:
    assert Endpoint("ep_1", "http://x", **filters).matches(alert("lic-1")) is matching


def test_only_unexpired_secrets_sign() -> None:
    ep = Endpoint("ep_1", "http://x", secrets=[
        {"secret_id": "a", "ciphertext": "new", "created_at": 0, "expires_at": None},
        {"secret_id": "b", "ciphertext": "old", "created_at": 0, "expires_at": 1_000}])
    assert ep.live_ciphertexts(at_us=999) == ["new", "old"]
    assert ep.live_ciphertexts(at_us=1_000) == ["new"]


def test_secret_box_round_trip_and_master_key_rotation() -> None:
    old, new = generate_master_key(), generate_master_key()
    token = SecretBox(SecretStr(old)).encrypt("whsec_abc")
    assert "whsec_abc" not in token
    assert SecretBox(SecretStr(f"{new},{old}")).decrypt(token) == "whsec_abc"
    with pytest.raises(MasterKeyError, match="wrong METERSTREAM_WEBHOOK_MASTER_KEY"):
        SecretBox(SecretStr(new)).decrypt(token)
    with pytest.raises(MasterKeyError, match="not set"):
        SecretBox(None)


def test_delivery_id_and_body_are_stable() -> None:
    a = alert()
    assert delivery_id("ep_1", a["alert_id"]) == delivery_id("ep_1", a["alert_id"]) != delivery_id("ep_2", a["alert_id"])
    assert alert_body(a) == alert_body(dict(reversed(list(a.items()))))
    assert json.loads(alert_body(a))["data"]["alert_id"] == a["alert_id"]

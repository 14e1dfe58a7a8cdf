"""What a delivery sends: its id (stable across retries and restarts) and its JSON body."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any


def delivery_id(endpoint_id: str, alert_id: str) -> str:
    """The ``webhook-id``: one per (endpoint, alert), so a duplicated alert or a restart reuses it."""
    digest = hashlib.sha256(f"{endpoint_id}\x00{alert_id}".encode()).hexdigest()
    return f"msg_{digest[:32]}"


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")
    return value


def alert_body(alert: dict[str, Any]) -> bytes:
    """``{"type": "alert.<kind>", "timestamp": ..., "data": {alert fields}}`` as compact UTF-8 JSON."""
    data = {k: _jsonable(v) for k, v in alert.items()}
    envelope = {"type": f"alert.{alert['kind']}", "timestamp": data["created_at"], "data": data}
    return json.dumps(envelope, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


def test_body(endpoint_id: str, at: dt.datetime) -> bytes:
    """The body of ``meterstream webhook test``: a ``webhook.test`` event, not an alert."""
    stamp = _jsonable(at)
    envelope = {"type": "webhook.test", "timestamp": stamp, "data": {"endpoint_id": endpoint_id}}
    return json.dumps(envelope, separators=(",", ":"), sort_keys=True).encode()

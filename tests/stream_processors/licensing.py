"""Helpers of the validate/reserve tests: HTTP by key, licenses with their own keys, a Meter on a worker."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from meterstream.stream_processors.license.terms import LicenseTerms, hash_key
from tests.stream_processors.factory import terms

VALIDATE_BODY = {"feature": "chat", "metric": "inferences", "quantity": "1", "model": "llama-3",
                 "model_version": "3.1.0", "hardware_id": "gpu-1", "region": "eu-west-1"}


def call(url: str, path: str, key: str | None, body: dict[str, Any] | None = None,
         method: str = "POST") -> tuple[int, dict[str, Any]]:
    """(status, JSON body) of one request with the key in its header."""
    headers = {"Content-Type": "application/json", **({"X-License-Key": key} if key else {})}
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def keyed(license_id: str, **changes: Any) -> tuple[LicenseTerms, str]:
    """Terms (the factory's defaults, overridden) holding the hash of a key made from the id."""
    key = f"key-{license_id}-secret"
    h = hash_key(key)
    base = {"quotas": {}, "hardware_ids": frozenset(), "max_hardware": None, **changes}
    return terms(license_id, key_hash=h, key_hashes=(h,), **base), key

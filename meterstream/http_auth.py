"""The shared token check of meterstream's HTTP servers (query endpoint, dashboard)."""

from __future__ import annotations

import base64
import hmac
from collections.abc import Mapping


def presented(headers: Mapping[str, str]) -> str:
    """The credential in an ``Authorization`` header: a Bearer token or a Basic password ("" if none)."""
    auth = headers.get("Authorization", "")
    if auth.startswith("Bearer "):
        return auth[7:]
    if auth.startswith("Basic "):
        try:
            return base64.b64decode(auth[6:], validate=True).decode().partition(":")[2]
        except (ValueError, UnicodeDecodeError):
            return ""
    return ""


def matches(given: str, token: str) -> bool:
    """``given`` equals ``token``, compared in constant time."""
    return hmac.compare_digest(given.encode(), token.encode())

"""Sign and verify webhook deliveries (Standard Webhooks); standard library only.

Receivers import this module with the base install::

    from meterstream.sinks.webhooks.verify import verify, WebhookVerificationError
    verify(secret, request.headers, raw_body)   # raises if not authentic or too old

The signed content is ``{webhook-id}.{webhook-timestamp}.{body}``; the key is
the base64 part of the ``whsec_`` secret; ``webhook-signature`` holds one or
more space-separated ``v1,<base64 HMAC-SHA256>`` (several during a secret
rotation, any one matching is enough).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets as _random
import time
from typing import Iterable, Mapping

SECRET_PREFIX = "whsec_"
DEFAULT_TOLERANCE_S = 300
ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER = "webhook-id", "webhook-timestamp", "webhook-signature"


class WebhookVerificationError(Exception):
    """The delivery is not authentic, or its timestamp is outside the tolerance."""


def generate_secret(n_bytes: int = 32) -> str:
    """A new random signing secret, ``whsec_<base64>``."""
    return SECRET_PREFIX + base64.b64encode(_random.token_bytes(n_bytes)).decode()


def _key(secret: str) -> bytes:
    raw = secret[len(SECRET_PREFIX):] if secret.startswith(SECRET_PREFIX) else secret
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise WebhookVerificationError("secret is not whsec_<base64>") from exc


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256>`` of ``{id}.{timestamp}.{body}`` with one secret."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(_key(secret), content, hashlib.sha256).digest()).decode()


def sign_headers(secrets: Iterable[str], msg_id: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """The three headers of one delivery, signed with every given secret."""
    ts = int(time.time()) if timestamp is None else timestamp
    sigs = [signature(s, msg_id, ts, body) for s in secrets]
    if not sigs:
        raise ValueError("at least one secret is needed to sign")
    return {ID_HEADER: msg_id, TIMESTAMP_HEADER: str(ts), SIGNATURE_HEADER: " ".join(sigs)}


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    raise WebhookVerificationError(f"missing {name} header")


def verify(secret: str | Iterable[str], headers: Mapping[str, str], body: bytes,
           tolerance_s: float = DEFAULT_TOLERANCE_S, now: float | None = None) -> str:
    """Check one delivery; return its ``webhook-id`` (use it to drop duplicates).

    ``secret`` may be several secrets (the receiver's side of a rotation). Raises
    :class:`WebhookVerificationError` when a header is missing, the timestamp is
    more than ``tolerance_s`` away from now (replay protection), or no signature
    matches (compared in constant time).
    """
    msg_id = _header(headers, ID_HEADER)
    ts_text = _header(headers, TIMESTAMP_HEADER)
    try:
        ts = int(ts_text)
    except ValueError:
        raise WebhookVerificationError(f"webhook-timestamp is not an integer: {ts_text!r}") from None
    current = time.time() if now is None else now
    if abs(current - ts) > tolerance_s:
        raise WebhookVerificationError(f"webhook-timestamp {ts} is outside the {tolerance_s:g}s tolerance")
    given = [s.encode() for s in _header(headers, SIGNATURE_HEADER).split() if s.startswith("v1,")]
    candidates = [secret] if isinstance(secret, str) else list(secret)
    for s in candidates:
        expected = signature(s, msg_id, ts, body).encode()
        if any(hmac.compare_digest(expected, g) for g in given):
            return msg_id
    raise WebhookVerificationError("no signature matches")

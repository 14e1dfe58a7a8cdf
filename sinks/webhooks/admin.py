"""Endpoint management behind the ``meterstream webhook`` commands."""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets as _random
from typing import Any
from urllib.parse import urlparse

from meterstream.clock import now_us
from meterstream.kafka.topics import ensure_topics, pipeline_topics, webhook_topics

from .endpoints import Endpoint, EndpointRegistry
from .errors import WebhookError
from .payload import test_body
from .secret_box import SecretBox
from .sender import Sender
from .settings import WebhookSettings
from .verify import generate_secret


class EndpointAdmin:
    """Add, change and remove endpoints; secrets are generated here and stored encrypted."""

    def __init__(self, settings: WebhookSettings) -> None:
        self.settings = settings
        ensure_topics(settings, pipeline_topics(settings) + webhook_topics(settings, settings.webhook_state_retention_s))
        self.registry = EndpointRegistry(settings, settings)

    def _box(self) -> SecretBox:
        return SecretBox(self.settings.webhook_master_key)

    def _new_secret(self) -> tuple[dict[str, Any], str]:
        secret = generate_secret()
        entry = {"secret_id": "sec_" + _random.token_hex(6), "ciphertext": self._box().encrypt(secret),
                 "created_at": now_us(), "expires_at": None}
        return entry, secret

    def add(self, url: str, licenses: list[str], tenants: list[str], kinds: list[str],
            description: str = "") -> tuple[Endpoint, str]:
        """A new enabled endpoint; returns it and its secret (the only time the secret is shown)."""
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise WebhookError(f"url must be an absolute http(s) URL, got {url!r}")
        entry, secret = self._new_secret()
        ep = Endpoint(Endpoint.new_id(), url, description, licenses, tenants, kinds, secrets=[entry])
        self.registry.put(ep)
        return ep, secret

    def list(self) -> list[dict[str, Any]]:
        rows = []
        for ep in sorted(self.registry.endpoints.values(), key=lambda e: e.endpoint_id):
            row = {k: v for k, v in ep.to_record().items() if k != "secrets"}
            row["live_secrets"] = len(ep.live_ciphertexts())
            rows.append(row)
        return rows

    def rotate(self, endpoint_id: str, keep_old_for_s: float) -> str:
        """Add a new secret; existing ones expire after ``keep_old_for_s`` (both sign until then)."""
        ep = self.registry.get(endpoint_id)
        entry, secret = self._new_secret()
        expiry = now_us() + int(keep_old_for_s * 1_000_000)
        kept = [{**s, "expires_at": min(s["expires_at"] or expiry, expiry)} for s in ep.secrets
                if s["expires_at"] is None or s["expires_at"] > now_us()]
        ep.secrets = [entry] + (kept if keep_old_for_s > 0 else [])
        self.registry.put(ep)
        return secret

    def disable(self, endpoint_id: str) -> None:
        ep = self.registry.get(endpoint_id)
        ep.enabled, ep.disabled_reason = False, "by operator"
        self.registry.put(ep)

    def enable(self, endpoint_id: str) -> None:
        ep = self.registry.get(endpoint_id)
        ep.enabled, ep.disabled_reason = True, ""
        self.registry.put(ep)

    def remove(self, endpoint_id: str) -> None:
        self.registry.delete(endpoint_id)

    def test(self, endpoint_id: str) -> tuple[int | None, float, str | None]:
        """One signed ``webhook.test`` POST; returns (status, latency ms, error)."""
        ep = self.registry.get(endpoint_id)
        box = self._box()
        secrets = [box.decrypt(c) for c in ep.live_ciphertexts()]
        body = test_body(endpoint_id, dt.datetime.now(dt.timezone.utc))

        async def send() -> tuple[int | None, float, str | None]:
            async with Sender(self.settings.webhook_timeout_s, 1) as sender:
                r = await sender.post(ep.url, "msg_test_" + _random.token_hex(8), body, secrets)
            return r.status, r.latency_us / 1000, r.error

        return asyncio.run(send())

    def close(self) -> None:
        self.registry.close()

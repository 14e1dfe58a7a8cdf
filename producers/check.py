"""Pre-check against the quota service: "may this license use this now?".

Contract (served by the stream processors)::

    GET {quota_url}/v1/licenses/{license_id}/check?metric=&quantity=&feature=&model=&model_version=
    200 {"license_id", "decision": allow|soft_exceeded|quota_exceeded|license_invalid,
         "reason", "metric", "remaining": "<decimal>"|null (unlimited), "period"}
    404 unknown license (license_invalid, reason "unknown license")
    400 {"error", "field"}: raises InvalidEventError naming the field (never "unavailable")

Answers are cached for ``check_cache_ttl_ms`` per (license, feature, metric,
model, version): a cached "allow" is reused while the asked quantity fits in
its ``remaining``. With no service configured, a timeout, a connection error,
a 5xx or a malformed answer, the decision is "unavailable" and ``allowed``
follows ``check_fail_open``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from .errors import InvalidEventError
from .settings import ProducerSettings

log = logging.getLogger(__name__)

Decision = Literal["allow", "soft_exceeded", "quota_exceeded", "license_invalid", "unavailable"]
DECISIONS = frozenset({"allow", "soft_exceeded", "quota_exceeded", "license_invalid"})
ALLOWING = frozenset({"allow", "soft_exceeded"})


@dataclass(frozen=True)
class CheckResult:
    """The answer to one pre-check."""

    decision: Decision
    allowed: bool
    reason: str | None
    remaining: Decimal | None  # None: unlimited (or unknown when unavailable)
    source: Literal["service", "cache", "unavailable"]
    period: str | None = None


class QuotaUnavailable(Exception):
    """The quota service did not give a usable answer (internal to this module)."""


def parse_answer(status: int, body: bytes) -> CheckResult:
    """A CheckResult from one HTTP answer of the quota service; QuotaUnavailable if unusable."""
    if status == 404:
        return CheckResult("license_invalid", False, "unknown license", Decimal(0), "service")
    if status == 400:  # an argument the service cannot judge: the caller's mistake, not an outage
        try:
            doc = json.loads(body)
        except ValueError:
            doc = {}
        raise InvalidEventError(str(doc.get("field", "request")), str(doc.get("error", "refused by the service")))
    if status != 200:
        raise QuotaUnavailable(f"HTTP {status}")
    try:
        doc = json.loads(body)
        decision = doc["decision"]
        remaining = doc.get("remaining")
        rem = None if remaining is None else Decimal(str(remaining))
    except (ValueError, KeyError, TypeError, InvalidOperation) as exc:
        raise QuotaUnavailable(f"malformed answer: {exc}") from None
    if decision not in DECISIONS:
        raise QuotaUnavailable(f"unknown decision {decision!r}")
    return CheckResult(decision, decision in ALLOWING, doc.get("reason"), rem, "service", doc.get("period"))


class QuotaClient:
    """Blocking HTTP client of the quota service with a small TTL cache (thread-safe)."""

    def __init__(self, settings: ProducerSettings) -> None:
        self.url = settings.quota_url.rstrip("/") if settings.quota_url else None
        self.timeout = settings.check_timeout_ms / 1000
        self.ttl = settings.check_cache_ttl_ms / 1000
        self.fail_open = settings.check_fail_open
        self._cache: dict[tuple[Any, ...], tuple[float, CheckResult]] = {}
        self._lock = threading.Lock()

    def check(self, license_id: str, feature: str, quantity: Decimal, metric: str = "inferences",
              model: str | None = None, model_version: str | None = None,
              context: dict[str, Any] | None = None) -> CheckResult:
        """The decision for this use; ``context`` (checked governance fields) goes with the question."""
        params = _params(feature, quantity, metric, model, model_version, context)
        key = (license_id, *sorted((k, v) for k, v in params.items() if k != "quantity"))
        cached = self._cached(key, quantity)
        if cached is not None:
            return cached
        if self.url is None:
            return self._unavailable("no quota service configured (quota_url)")
        try:
            result = self._ask(license_id, params)
        except QuotaUnavailable as exc:
            return self._unavailable(str(exc))
        if self.ttl > 0:
            with self._lock:
                self._cache[key] = (time.monotonic() + self.ttl, result)
        return result

    async def acheck(self, license_id: str, feature: str, quantity: Decimal, metric: str = "inferences",
                     model: str | None = None, model_version: str | None = None,
                     context: dict[str, Any] | None = None) -> CheckResult:
        """check() off the event loop (the cache hit path does not leave the loop)."""
        params = _params(feature, quantity, metric, model, model_version, context)
        cached = self._cached((license_id, *sorted((k, v) for k, v in params.items() if k != "quantity")), quantity)
        if cached is not None:
            return cached
        return await asyncio.to_thread(self.check, license_id, feature, quantity, metric, model, model_version,
                                       context)

    def _cached(self, key: tuple[Any, ...], quantity: Decimal) -> CheckResult | None:
        with self._lock:
            hit = self._cache.get(key)
        if hit is None or hit[0] < time.monotonic():
            return None
        result = hit[1]
        if result.allowed and result.remaining is not None and quantity > result.remaining:
            return None  # the cached allowance may not cover this quantity: ask again
        return replace(result, source="cache")

    def _ask(self, license_id: str, params: dict[str, str]) -> CheckResult:
        url = (f"{self.url}/v1/licenses/{urllib.parse.quote(license_id, safe='')}/check?"
               f"{urllib.parse.urlencode(params)}")
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as resp:  # noqa: S310 - configured URL
                return parse_answer(resp.status, resp.read(64 * 1024))
        except urllib.error.HTTPError as exc:
            return parse_answer(exc.code, exc.read(64 * 1024))
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            raise QuotaUnavailable(f"quota service unreachable: {exc}") from None

    def _unavailable(self, reason: str) -> CheckResult:
        log.debug("quota check unavailable: %s", reason)
        return CheckResult("unavailable", self.fail_open, reason, None, "unavailable")


def _params(feature: str, quantity: Decimal, metric: str, model: str | None, model_version: str | None,
            context: dict[str, Any] | None) -> dict[str, str]:
    """The check's query parameters (data categories comma-separated, as the check view reads them)."""
    params = {"metric": metric, "quantity": f"{quantity:f}", "feature": feature}
    if model is not None:
        params["model"] = model
    if model_version is not None:
        params["model_version"] = model_version
    for name, value in (context or {}).items():
        params[name] = ",".join(value) if isinstance(value, (list, tuple)) else str(value)
    return params

"""Validate and reserve by license key: "may this key run this call now?", answered before the GPU is spent.

Contract (served by the stream processors, any worker)::

    POST {quota_url}/v1/validate          header X-License-Key: <key>
         {"feature", "metric", "quantity", "model", "model_version", "hardware_id", "region"}
    POST {quota_url}/v1/reservations      same, plus "ttl_s"   -> also "reservation_id", "expires_at_us"
    DELETE {quota_url}/v1/reservations/{id}                    -> "released"
    200 {"valid", "code", "message", "license_id", "decision_id", "tier", "flags", "metric", "remaining",
         "period"}
    400 {"error", "field"}   an argument the service cannot judge

Arguments are checked here first, so a bad one raises ``InvalidEventError``
naming the field and never reaches the service; a 400 the service still
returns raises the same. Only a service that cannot be reached (no URL,
timeout, connection error, 5xx, malformed answer) gives ``code="unavailable"``,
with ``valid`` following ``check_fail_open``. Answers are never cached: each
one is a decision with its own id, kept as evidence.
"""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from meterstream.schemas.units import format_decimal

from .errors import InvalidEventError
from .event import MAX_TEXT, check_categories, check_metric, check_text, unscaled_quantity
from .settings import ProducerSettings

log = logging.getLogger(__name__)
UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class ValidationResult:
    """One validate or reserve answer."""

    valid: bool
    code: str  # ok, soft_exceeded, quota_exceeded, expired, ..., unknown_key, or unavailable
    message: str
    decision_id: str | None = None
    license_id: str | None = None
    tier: str | None = None
    flags: dict[str, bool] = field(default_factory=dict)
    remaining: Decimal | None = None  # None: the metric has no quota (or the service was unavailable)
    period: str | None = None
    reservation_id: str | None = None
    expires_at_us: int | None = None
    released: bool | None = None  # release() answers only

    @property
    def error(self) -> str | None:
        """The refusal code, None when valid (the seed's ``result.error``)."""
        return None if self.valid else self.code


class ServiceUnavailable(Exception):
    """The service gave no usable answer (internal to this module)."""


def request_body(metric: str | None, quantity: Any, fields: dict[str, str | None],
                 ttl_s: float | None = None) -> dict[str, Any]:
    """The JSON body of a request, every argument checked (InvalidEventError naming the field)."""
    body: dict[str, Any] = {"quantity": format_decimal(unscaled_quantity(quantity))}
    if metric is not None:
        body["metric"] = check_metric(metric)
    body.update(checked_texts(fields))
    if ttl_s is not None:
        if isinstance(ttl_s, bool) or not isinstance(ttl_s, (int, float)) or not 1 <= ttl_s <= 86_400:
            raise InvalidEventError("ttl_s", f"must be a number of seconds from 1 to 86400, got {ttl_s!r}")
        body["ttl_s"] = ttl_s
    return body


def checked_texts(fields: dict[str, str | None]) -> dict[str, str]:
    """The given (non-empty) text fields, each checked by record()'s rules (InvalidEventError naming it)."""
    return {name: check_text(name, value) for name, value in fields.items() if value}


def parse_result(status: int, raw: bytes) -> ValidationResult:
    """A ValidationResult from one HTTP answer; InvalidEventError for a 400, ServiceUnavailable otherwise."""
    try:
        doc = json.loads(raw)
    except ValueError:
        raise ServiceUnavailable(f"HTTP {status}: not JSON") from None
    if status == 400 and isinstance(doc, dict):
        raise InvalidEventError(str(doc.get("field", "request")), str(doc.get("error", "refused by the service")))
    if status != 200 or not isinstance(doc, dict) or "code" not in doc:
        raise ServiceUnavailable(f"HTTP {status}")
    try:
        rem = doc.get("remaining")
        return ValidationResult(
            bool(doc["valid"]), str(doc["code"]), str(doc.get("message") or ""), doc.get("decision_id"),
            doc.get("license_id"), doc.get("tier"), dict(doc.get("flags") or {}),
            None if rem is None else Decimal(str(rem)), doc.get("period"), doc.get("reservation_id"),
            doc.get("expires_at_us"), doc.get("released"))
    except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
        raise ServiceUnavailable(f"malformed answer: {exc}") from None


class LicenseClient:
    """Blocking HTTP client of validate/reserve/release (thread-safe: no shared mutable state)."""

    def __init__(self, settings: ProducerSettings) -> None:
        self.url = settings.quota_url.rstrip("/") if settings.quota_url else None
        self.timeout = settings.check_timeout_ms / 1000
        self.fail_open = settings.check_fail_open

    def call(self, method: str, path: str, key: str, body: dict[str, Any] | None) -> ValidationResult:
        """One request; the ``unavailable`` result when the service cannot be reached."""
        if not key or not isinstance(key, str):
            raise InvalidEventError("license_key", "is required (a non-empty string)")
        if len(key) > 4 * MAX_TEXT:
            raise InvalidEventError("license_key", f"longer than {4 * MAX_TEXT} characters ({len(key)})")
        if self.url is None:
            return self._unavailable("no quota service configured (quota_url)")
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"X-License-Key": key, "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 - configured URL
                return parse_result(resp.status, resp.read(64 * 1024))
        except urllib.error.HTTPError as exc:
            try:
                return parse_result(exc.code, exc.read(64 * 1024))
            except ServiceUnavailable as why:
                return self._unavailable(str(why))
        except (urllib.error.URLError, OSError, TimeoutError, ServiceUnavailable) as exc:
            return self._unavailable(f"license service unreachable: {exc}")

    async def acall(self, method: str, path: str, key: str, body: dict[str, Any] | None) -> ValidationResult:
        return await asyncio.to_thread(self.call, method, path, key, body)

    def _unavailable(self, reason: str) -> ValidationResult:
        log.debug("validate unavailable: %s", reason)
        return ValidationResult(self.fail_open, UNAVAILABLE, reason)


def release_path(reservation_id: str) -> str:
    check_text("reservation_id", reservation_id, required=True)
    return "/v1/reservations/" + urllib.parse.quote(reservation_id, safe="")


# Governance context a validate/reserve carries, defaulted from the Meter's settings when not given.
CONTEXT_DEFAULTS = ("team", "app", "environment", "purpose", "provider", "source", "use_case", "sensitivity")
CONTEXT = frozenset({*CONTEXT_DEFAULTS, "user_id", "data_categories"})


def _context(context: dict[str, Any]) -> dict[str, Any]:
    """The governance context of a call; an unknown keyword is an error naming it (not silently sent)."""
    unknown = sorted(set(context) - CONTEXT)
    if unknown:
        raise TypeError(f"unexpected keyword argument(s) {', '.join(unknown)}; the governance context is "
                        f"{', '.join(sorted(CONTEXT))}")
    return context


class KeyedCalls:
    """``Meter``'s validate/reserve/release methods (model, version, hardware id and region default from
    the Meter's settings; ``feature`` too)."""

    settings: ProducerSettings
    _licenses: LicenseClient

    def _body(self, metric: str | None, quantity: Any, feature: str | None, model: str | None,
              model_version: str | None, hardware_id: str | None, region: str | None,
              ttl_s: float | None = None, context: dict[str, Any] | None = None) -> dict[str, Any]:
        """The request body: the call's terms, and the governance context that policy rules judge."""
        s = self.settings
        return {**request_body(metric, quantity, {
            "feature": feature or s.feature, "model": model or s.model,
            "model_version": model_version or s.model_version, "hardware_id": hardware_id or s.hardware_id,
            "region": region or s.region}, ttl_s), **self._governance(context or {})}

    def _governance(self, context: dict[str, Any]) -> dict[str, Any]:
        """The governance context (use case, user, sensitivity, data categories, team, app...) of a
        validate, reserve or check, defaulted from the Meter like the events it records; each value
        checked by record()'s rules (InvalidEventError naming the field). Empty values are left out."""
        s = self.settings
        fields: dict[str, Any] = checked_texts({"user_id": context.get("user_id"), **{
            name: context.get(name) or getattr(s, name) for name in CONTEXT_DEFAULTS}})
        categories = context.get("data_categories")
        categories = check_categories(s.data_categories if categories is None else categories)
        if categories:
            fields["data_categories"] = sorted(categories)
        return fields

    def validate(self, license_key: str, *, feature: str | None = None, metric: str | None = "inferences",
                 quantity: Any = 1, model: str | None = None, model_version: str | None = None,
                 hardware_id: str | None = None, region: str | None = None,
                 **context: Any) -> ValidationResult:
        """May this key run this call now? Every term is judged, and the policy rules on the governance
        ``context`` (``use_case``, ``user_id``, ``sensitivity``, ``data_categories``, ``team``, ``app``,
        ``environment``, ``purpose``, ``provider``: Meter defaults apply); see ``ValidationResult.code``."""
        body = self._body(metric, quantity, feature, model, model_version, hardware_id, region,
                          context=_context(context))
        return self._licenses.call("POST", "/v1/validate", license_key, body)

    async def avalidate(self, license_key: str, **kwargs: Any) -> ValidationResult:
        """validate() for asyncio: the request runs in a worker thread, never on the loop."""
        return await asyncio.to_thread(self.validate, license_key, **kwargs)

    def reserve(self, license_key: str, metric: str, estimate: Any, *, ttl_s: float = 60,
                feature: str | None = None, model: str | None = None, model_version: str | None = None,
                hardware_id: str | None = None, region: str | None = None, **context: Any) -> ValidationResult:
        """Validate and hold ``estimate`` of ``metric`` against its hard limit for ``ttl_s`` seconds.

        Record the actual use with ``reservation_id=result.reservation_id`` (the rest is released), or
        ``release()`` it; unused, it expires.
        """
        body = self._body(metric, estimate, feature, model, model_version, hardware_id, region, ttl_s,
                          context=_context(context))
        return self._licenses.call("POST", "/v1/reservations", license_key, body)

    async def areserve(self, license_key: str, metric: str, estimate: Any, **kwargs: Any) -> ValidationResult:
        return await asyncio.to_thread(self.reserve, license_key, metric, estimate, **kwargs)

    def release(self, license_key: str, reservation_id: str) -> bool:
        """Give a reservation back unused; True if it was still open."""
        result = self._licenses.call("DELETE", release_path(reservation_id), license_key, None)
        return bool(result.released)

    async def arelease(self, license_key: str, reservation_id: str) -> bool:
        return await asyncio.to_thread(self.release, license_key, reservation_id)

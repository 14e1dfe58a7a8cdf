"""The validate decision: every term of a license judged before the call, one machine-readable code.

Pure Python over the terms, the state and the release catalog; the HTTP
views (``views.py``) and the key lookup (``access.py``) call it. Codes, in
the order they are judged (the first that applies is the answer):

``revoked``, ``suspended`` (status) · ``not_yet_valid``, ``expired``
(validity window, wall clock) · ``model_not_allowed``, ``version_not_allowed``
(grants and version rules against the release catalog) ·
``feature_not_enabled`` · ``hardware_not_allowed`` · ``region_not_allowed``
(export control first, then residency) · ``hardware_limit`` (a machine not yet
seen this month when ``max_hardware`` distinct ones already were) ·
``quota_exceeded`` (a hard limit reached, or this quantity plus the open
reservations would pass it) · ``soft_exceeded`` (valid, but over a soft
limit) · ``ok``. ``unknown_key`` is decided before any license is found.
A use found valid is then judged against the organisation's policy
(``governance/check.py``, called by ``access.py``): ``policy_blocked`` or
``exception_required``.

A valid answer for a machine not yet seen this month adds it to the month's
hardware (a validated new machine counts towards ``max_hardware``); ``judge``
only names the month, the caller writes the state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from meterstream.schemas.units import METRICS, format_decimal, to_unscaled

from .license.releases import ReleaseCatalog
from .license.terms import LicenseTerms
from .quota import Period
from .reservations import held
from .state import LicenseState, used_now

OK, SOFT_EXCEEDED, QUOTA_EXCEEDED, UNKNOWN_KEY = "ok", "soft_exceeded", "quota_exceeded", "unknown_key"
CODES = ("ok", "quota_exceeded", "soft_exceeded", "expired", "not_yet_valid", "suspended", "revoked",
         "hardware_not_allowed", "hardware_limit", "region_not_allowed", "feature_not_enabled",
         "model_not_allowed", "version_not_allowed", "unknown_key",
         "policy_blocked", "exception_required")  # the last two: governance/check.py, after judge
VALID_CODES = frozenset({OK, SOFT_EXCEEDED})
MONTH = Period("month")
MAX_TEXT = 256
US = 1_000_000


class BadRequest(ValueError):
    """A request argument that cannot be judged; ``field`` names it (HTTP 400)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field


@dataclass(frozen=True)
class Ask:
    """What the caller is about to do (every field optional except what the license needs judged)."""

    metric: str | None = None
    quantity: int = 0  # unscaled
    feature: str | None = None
    model: str | None = None
    model_version: str | None = None
    hardware_id: str | None = None
    region: str | None = None
    ttl_s: float = 0.0  # reservations only

    @classmethod
    def parse(cls, body: Any, *, reserve: bool = False) -> "Ask":
        """An Ask from a decoded JSON body; BadRequest naming the field otherwise."""
        if not isinstance(body, dict):
            raise BadRequest("body", "must be a JSON object")
        text = {name: _text(body, name) for name in ("feature", "model", "model_version", "hardware_id", "region")}
        metric = _text(body, "metric")
        if metric is not None and metric not in METRICS:
            raise BadRequest("metric", f"must be one of {sorted(METRICS)}, got {metric!r}")
        if reserve and metric is None:
            raise BadRequest("metric", "is required to reserve")
        try:
            quantity = to_unscaled(body.get("quantity", 0))
        except ValueError as exc:
            raise BadRequest("quantity", str(exc)) from None
        return cls(metric, quantity, ttl_s=_ttl(body) if reserve else 0.0, **text)


def _text(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > MAX_TEXT or "\x00" in value:
        raise BadRequest(name, f"must be a string of at most {MAX_TEXT} characters")
    return value


def _ttl(body: dict[str, Any]) -> float:
    ttl = body.get("ttl_s", 60)
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not 1 <= ttl <= 86_400:
        raise BadRequest("ttl_s", f"must be a number of seconds from 1 to 86400, got {ttl!r}")
    return float(ttl)


@dataclass
class Verdict:
    """The outcome of judging one Ask: code, message, quota view and whether state changed."""

    code: str
    message: str
    remaining: int | None = None
    period: str | None = None
    new_hardware: str | None = None  # month key the validated machine was added to
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return self.code in VALID_CODES


def terms_verdict(terms: LicenseTerms, ask: Ask, catalog: ReleaseCatalog | None, now_us: int) -> Verdict | None:
    """The first term (status to region) that refuses ``ask``, or None."""
    if terms.status != "active":
        return Verdict(terms.status, f"license {terms.status}")
    if terms.not_before_us is not None and now_us < terms.not_before_us:
        return Verdict("not_yet_valid", "license not yet valid")
    if terms.expires_us is not None and now_us >= terms.expires_us:
        return Verdict("expired", "license expired")
    if ask.model:
        found = terms.model_verdict(ask.model, ask.model_version or "", catalog, now_us)
        if found:
            return Verdict(*found)
    if ask.feature and not terms.feature_allowed(ask.feature):
        return Verdict("feature_not_enabled", f"feature {ask.feature} not enabled")
    if ask.hardware_id and terms.hardware_ids and ask.hardware_id not in terms.hardware_ids:
        return Verdict("hardware_not_allowed", f"hardware id {ask.hardware_id} not allowed")
    if ask.region:
        reason = terms.region_verdict(ask.region)
        if reason:
            return Verdict("region_not_allowed", reason)
    return None


def _hardware(terms: LicenseTerms, state: LicenseState, hw: str | None, now_us: int) -> Verdict | str | None:
    """hardware_limit, or the month key a new machine would be added to, or None."""
    if not hw or terms.max_hardware is None:
        return None
    month = MONTH.bounds(now_us)[0]
    seen = state.hw.get(month, [])
    if hw in seen:
        return None
    if len(seen) >= terms.max_hardware:
        return Verdict("hardware_limit", f"{len(seen)} distinct hardware ids already used in {month}, "
                                         f"at most {terms.max_hardware} allowed")
    return month


def _quota(terms: LicenseTerms, state: LicenseState, ask: Ask, now_us: int) -> Verdict:
    q = terms.quotas.get(ask.metric or "")
    if q is None:
        return Verdict(OK, "valid")
    used, period = used_now(state, q.metric, q.period, now_us)
    taken = used + held(state, q.metric, now_us)
    remaining = max(q.limit - taken, 0)
    if taken + ask.quantity <= q.limit and taken < q.limit:
        return Verdict(OK, "valid", remaining, period)
    kind = "hard" if q.hard else "soft"
    message = (f"{kind} limit of {format_decimal(q.limit)} {q.metric} per {q.period} "
               f"{'reached' if taken >= q.limit else 'would be passed'}: used {format_decimal(used)}, "
               f"reserved {format_decimal(taken - used)}")
    return Verdict(QUOTA_EXCEEDED if q.hard else SOFT_EXCEEDED, message, remaining, period)


def judge(terms: LicenseTerms, state: LicenseState, ask: Ask, catalog: ReleaseCatalog | None,
          now_us: int) -> Verdict:
    """Every term, then the hardware cap, then the quota. Reads ``state`` only: a valid verdict for a
    machine not seen this month names the month in ``new_hardware`` for the caller to record."""
    refused = terms_verdict(terms, ask, catalog, now_us)
    if refused is not None:
        return refused
    hw = _hardware(terms, state, ask.hardware_id, now_us)
    if isinstance(hw, Verdict):
        return hw
    verdict = _quota(terms, state, ask, now_us)
    if verdict.valid and hw is not None:
        verdict.new_hardware = hw
    return verdict


def answer(verdict: Verdict, terms: LicenseTerms | None, ask: Ask, decision_id: str) -> dict[str, Any]:
    """The JSON body of a validate/reserve answer (an unknown key gets the same shape, nothing filled)."""
    return {
        "valid": verdict.valid, "code": verdict.code, "message": verdict.message,
        "license_id": terms.license_id if terms else None, "decision_id": decision_id,
        "tier": terms.tier if terms else None, "flags": dict(terms.flags) if terms else {},
        "metric": ask.metric if terms else None,
        "remaining": None if verdict.remaining is None else format_decimal(verdict.remaining),
        "period": verdict.period, **verdict.extra,
    }


UNKNOWN = Verdict(UNKNOWN_KEY, "unknown license key")

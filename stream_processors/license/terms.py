"""The terms of one license, parsed once from its Avro record and checked per event.

A license is the metered subject. Its record on the compacted licenses topic
holds the tier, the quotas (per metric: limit, period, soft or hard, alert
thresholds), the validity window and what it may use: models with a version
rule, hardware ids (and how many distinct ones per calendar month), regions
and features. An empty allow-list means "anything". The license key is never
kept, only its SHA-256.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Iterable

from meterstream.schemas.units import METRICS, SCALE, to_unscaled

from ..errors import InvalidTermsError
from ..quota import Period

STATUSES = ("active", "suspended", "revoked")
DEFAULT_THRESHOLDS = (50, 80, 90, 100)


def hash_key(key: str) -> str:
    """Hex SHA-256 of a license key: what is stored instead of the key."""
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class QuotaTerm:
    """A limit on one metric per period (``limit`` unscaled, x 10^6)."""

    metric: str
    limit: int
    period: Period = Period("month")
    hard: bool = False
    thresholds: tuple[int, ...] = DEFAULT_THRESHOLDS


@dataclass(frozen=True)
class ModelGrant:
    """An allowed model and its version rule: ``latest`` (any release), ``pin:<v>`` or ``major:<n>``."""

    model: str
    version_rule: str = "latest"

    def allows(self, version: str) -> bool:
        rule = self.version_rule
        if rule == "latest":
            return True
        if rule.startswith("pin:"):
            return version == rule[4:]
        return version.split(".", 1)[0].lstrip("v") == rule[6:]


def _check_rule(rule: str) -> str:
    if rule == "latest" or (rule.startswith("pin:") and len(rule) > 4) or \
            (rule.startswith("major:") and rule[6:].isdigit()):
        return rule
    raise InvalidTermsError("models.version_rule", f"must be latest, pin:<version> or major:<n>, got {rule!r}")


def _us(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        dt = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return (int(dt.timestamp()) * 1_000_000) + dt.microsecond
    return int(value)


def _dt(us: int | None) -> datetime | None:
    return None if us is None else datetime.fromtimestamp(us / 1_000_000, timezone.utc)


def unscaled_limit(value: Any) -> int:
    """A quota limit (Decimal, int, float or string) as an exact unscaled integer > 0."""
    try:
        limit = to_unscaled(value)
    except ValueError as exc:
        raise InvalidTermsError("quotas.limit", str(exc)) from None
    if limit == 0:
        raise InvalidTermsError("quotas.limit", "must be greater than 0")
    return limit


@dataclass(frozen=True)
class LicenseTerms:
    """Everything the processors enforce for one license."""

    license_id: str
    tier: str = "free"
    status: str = "active"
    tenant: str = ""
    key_hash: str = ""
    not_before_us: int | None = None
    expires_us: int | None = None
    quotas: dict[str, QuotaTerm] = field(default_factory=dict)
    models: dict[str, tuple[ModelGrant, ...]] = field(default_factory=dict)
    hardware_ids: frozenset[str] = frozenset()
    max_hardware: int | None = None
    regions: frozenset[str] = frozenset()
    features: frozenset[str] = frozenset()
    updated_at_us: int = 0

    def __post_init__(self) -> None:
        if not self.license_id:
            raise InvalidTermsError("license_id", "is required")
        if self.status not in STATUSES:
            raise InvalidTermsError("status", f"must be one of {STATUSES}, got {self.status!r}")
        if not self.tier:
            raise InvalidTermsError("tier", "is required (free, pro, enterprise or a custom name)")
        if self.key_hash and len(self.key_hash) != 64:
            raise InvalidTermsError("key_hash", "must be a hex SHA-256 (the key itself is never stored)")
        if self.max_hardware is not None and self.max_hardware < 1:
            raise InvalidTermsError("max_hardware", "must be at least 1")
        if self.not_before_us and self.expires_us and self.expires_us <= self.not_before_us:
            raise InvalidTermsError("expires_at", "must be after not_before")
        for q in self.quotas.values():
            if q.metric not in METRICS:
                raise InvalidTermsError("quotas.metric", f"must be one of {sorted(METRICS)}, got {q.metric!r}")
            if not q.thresholds or any(t <= 0 for t in q.thresholds):
                raise InvalidTermsError("quotas.thresholds", f"must be positive percentages, got {q.thresholds}")
        for grants in self.models.values():
            for g in grants:
                _check_rule(g.version_rule)

    # -- per-event checks (None = fine, else the reason) ----------------------

    def validity_reason(self, t_us: int) -> str | None:
        if self.not_before_us is not None and t_us < self.not_before_us:
            return "not yet valid"
        if self.expires_us is not None and t_us >= self.expires_us:
            return "expired"
        return None

    def model_reason(self, model: str, version: str) -> str | None:
        if not self.models:
            return None
        grants = self.models.get(model)
        if grants is None:
            return f"model {model} not allowed"
        if not any(g.allows(version) for g in grants):
            rules = ", ".join(g.version_rule for g in grants)
            return f"version {version} of {model} not allowed ({rules})"
        return None

    def feature_allowed(self, feature: str) -> bool:
        return not self.features or feature in self.features

    def status_reason(self) -> str | None:
        return None if self.status == "active" else self.status

    # -- Avro ---------------------------------------------------------------

    @classmethod
    def from_record(cls, r: dict[str, Any]) -> "LicenseTerms":
        quotas = {}
        for q in r.get("quotas") or []:
            quotas[q["metric"]] = QuotaTerm(q["metric"], unscaled_limit(q["limit"]), Period.parse(q["period"]),
                                            bool(q["hard"]), tuple(sorted(set(q["thresholds"]))))
        models: dict[str, tuple[ModelGrant, ...]] = {}
        for g in r.get("models") or []:
            models[g["model"]] = models.get(g["model"], ()) + (ModelGrant(g["model"], g["version_rule"]),)
        return cls(license_id=r["license_id"], tier=r.get("tier") or "free", status=r.get("status") or "active",
                   tenant=r.get("tenant") or "", key_hash=r.get("key_hash") or "",
                   not_before_us=_us(r.get("not_before")), expires_us=_us(r.get("expires_at")),
                   quotas=quotas, models=models, hardware_ids=frozenset(r.get("hardware_ids") or ()),
                   max_hardware=r.get("max_hardware"), regions=frozenset(r.get("regions") or ()),
                   features=frozenset(r.get("features") or ()), updated_at_us=_us(r.get("updated_at")) or 0)

    def to_record(self) -> dict[str, Any]:
        return {
            "license_id": self.license_id, "key_hash": self.key_hash, "tenant": self.tenant, "tier": self.tier,
            "status": self.status, "not_before": _dt(self.not_before_us), "expires_at": _dt(self.expires_us),
            "quotas": [{"metric": q.metric, "limit": Decimal(q.limit).scaleb(-6), "period": str(q.period),
                        "hard": q.hard, "thresholds": list(q.thresholds)} for q in self.quotas.values()],
            "models": [{"model": g.model, "version_rule": g.version_rule}
                       for grants in self.models.values() for g in grants],
            "hardware_ids": sorted(self.hardware_ids), "max_hardware": self.max_hardware,
            "regions": sorted(self.regions), "features": sorted(self.features),
            "updated_at": _dt(self.updated_at_us) or datetime.now(timezone.utc),
        }

    def with_changes(self, **changes: Any) -> "LicenseTerms":
        return replace(self, **changes)


def quota(metric: str, limit: Any, period: str = "month", hard: bool = False,
          thresholds: Iterable[int] = DEFAULT_THRESHOLDS) -> QuotaTerm:
    """A validated quota term from user-facing values (limit as a decimal number)."""
    return QuotaTerm(metric, unscaled_limit(limit), Period.parse(period), hard, tuple(sorted(set(thresholds))))


def grants(*specs: str) -> dict[str, tuple[ModelGrant, ...]]:
    """Model grants from ``model`` or ``model=<rule>`` strings (``llama-3=major:3``)."""
    out: dict[str, tuple[ModelGrant, ...]] = {}
    for spec in specs:
        model, _, rule = spec.partition("=")
        g = ModelGrant(model, _check_rule(rule or "latest"))
        out[model] = out.get(model, ()) + (g,)
    return out

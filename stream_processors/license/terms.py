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

from meterstream.clock import now_us
from meterstream.schemas.units import METRICS, SCALE, to_unscaled

from ..errors import InvalidTermsError
from ..quota import Period
from .releases import ReleaseCatalog, check_rule, version_allowed

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
    """An allowed model and its version rule (see ``releases.py``: any, latest[:n], pin, major, maintenance)."""

    model: str
    version_rule: str = "any"

    def allows(self, version: str, catalog: ReleaseCatalog | None = None, start_us: int = 0,
               t_us: int | None = None) -> bool:
        return version_allowed(self.version_rule, self.model, version, catalog, start_us,
                               now_us() if t_us is None else t_us)


def _check_rule(rule: str) -> str:
    return check_rule(rule)


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
    key_hashes: tuple[str, ...] = ()  # every accepted key hash (two during a rotation); () = (key_hash,)
    not_before_us: int | None = None
    expires_us: int | None = None
    quotas: dict[str, QuotaTerm] = field(default_factory=dict)
    models: dict[str, tuple[ModelGrant, ...]] = field(default_factory=dict)
    hardware_ids: frozenset[str] = frozenset()
    max_hardware: int | None = None
    regions: frozenset[str] = frozenset()
    features: frozenset[str] = frozenset()
    export_denied: frozenset[str] = frozenset()  # regions or region prefixes refused whatever ``regions`` says
    flags: dict[str, bool] = field(default_factory=dict)  # tier flags: watermark_required, priority, ...
    purchased_at_us: int | None = None
    updated_at_us: int = 0

    def __post_init__(self) -> None:
        if not self.license_id:
            raise InvalidTermsError("license_id", "is required")
        if self.status not in STATUSES:
            raise InvalidTermsError("status", f"must be one of {STATUSES}, got {self.status!r}")
        if not self.tier:
            raise InvalidTermsError("tier", "is required (free, pro, enterprise or a custom name)")
        if any(len(h) != 64 for h in (self.key_hash, *self.key_hashes) if h):
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

    @property
    def accepted_key_hashes(self) -> tuple[str, ...]:
        """The key hashes this license accepts: every rotation key, or the one key."""
        return self.key_hashes or ((self.key_hash,) if self.key_hash else ())

    @property
    def start_us(self) -> int:
        """Where maintenance windows count from: the purchase, else the validity start, else the publication."""
        return self.purchased_at_us or self.not_before_us or self.updated_at_us

    def model_verdict(self, model: str, version: str, catalog: ReleaseCatalog | None = None,
                      t_us: int | None = None) -> tuple[str, str] | None:
        """None if ``model`` at ``version`` may be used, else (``model_not_allowed`` or
        ``version_not_allowed``, the reason)."""
        if not self.models:
            return None
        grants = self.models.get(model)
        if grants is None:
            return "model_not_allowed", f"model {model} not allowed"
        t = now_us() if t_us is None else t_us
        if not any(g.allows(version, catalog, self.start_us, t) for g in grants):
            rules = ", ".join(g.version_rule for g in grants)
            return "version_not_allowed", f"version {version} of {model} not allowed ({rules})"
        return None

    def model_reason(self, model: str, version: str, catalog: ReleaseCatalog | None = None,
                     t_us: int | None = None) -> str | None:
        verdict = self.model_verdict(model, version, catalog, t_us)
        return None if verdict is None else verdict[1]

    def region_verdict(self, region: str) -> str | None:
        """Why ``region`` is refused (export control first, then residency), or None."""
        if any(region == d or region.startswith(d + "-") for d in self.export_denied):
            return f"region {region} is export-controlled"
        if self.regions and region not in self.regions:
            return f"region {region} not allowed (data residency: {', '.join(sorted(self.regions))})"
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
                   key_hashes=tuple(r.get("key_hashes") or ()), export_denied=frozenset(r.get("export_denied") or ()),
                   flags=dict(r.get("flags") or {}), purchased_at_us=_us(r.get("purchased_at")),
                   not_before_us=_us(r.get("not_before")), expires_us=_us(r.get("expires_at")),
                   quotas=quotas, models=models, hardware_ids=frozenset(r.get("hardware_ids") or ()),
                   max_hardware=r.get("max_hardware"), regions=frozenset(r.get("regions") or ()),
                   features=frozenset(r.get("features") or ()), updated_at_us=_us(r.get("updated_at")) or 0)

    def to_record(self) -> dict[str, Any]:
        return {
            "license_id": self.license_id, "key_hash": self.key_hash, "key_hashes": list(self.key_hashes),
            "export_denied": sorted(self.export_denied), "flags": dict(self.flags),
            "purchased_at": _dt(self.purchased_at_us), "tenant": self.tenant, "tier": self.tier,
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
    """Model grants from ``model`` (any version) or ``model=<rule>`` strings (``llama-3=major:3``)."""
    out: dict[str, tuple[ModelGrant, ...]] = {}
    for spec in specs:
        model, _, rule = spec.partition("=")
        g = ModelGrant(model, _check_rule(rule or "any"))
        out[model] = out.get(model, ()) + (g,)
    return out

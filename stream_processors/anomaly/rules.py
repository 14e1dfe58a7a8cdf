"""License-term violations found in one batch: validity, model/version, hardware, region, feature, status.

Checks run over the *distinct* values of a batch (a set built at C speed), not
per event, so their cost barely grows with the batch. Each finding names the
offending value (its ``subject``) and the first event showing it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from .. import alerts as k
from ..license.releases import ReleaseCatalog
from ..license.terms import LicenseTerms
from ..quota import Period, PeriodCache


@dataclass
class Finding:
    kind: str
    subject: str
    message: str
    index: int
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass
class BatchView:
    """The decoded columns of one usage message that the rules read."""

    times: Sequence[int]
    models: Sequence[str]
    versions: Sequence[str]
    hardware: Sequence[str]
    regions: Sequence[str]
    features: Sequence[str]


def status(terms: LicenseTerms) -> list[Finding]:
    if terms.status == "revoked":
        return [Finding(k.LICENSE_REVOKED, "", "use of a revoked license", 0, {"status": terms.status})]
    if terms.status == "suspended":
        return [Finding(k.LICENSE_SUSPENDED, "", "use of a suspended license", 0, {"status": terms.status})]
    return []


def validity(terms: LicenseTerms, times: Sequence[int]) -> list[Finding]:
    out = []
    lo, hi = min(times), max(times)
    if terms.not_before_us is not None and lo < terms.not_before_us:
        out.append(Finding(k.NOT_YET_VALID, "", "use before the license's validity window", times.index(lo),
                           {"event_time_us": lo, "not_before_us": terms.not_before_us}))
    if terms.expires_us is not None and hi >= terms.expires_us:
        out.append(Finding(k.EXPIRED, "", "use after the license expired", times.index(hi),
                           {"event_time_us": hi, "expires_at_us": terms.expires_us}))
    return out


def models(terms: LicenseTerms, b: BatchView, catalog: ReleaseCatalog | None = None) -> list[Finding]:
    """Models and versions the grants do not allow, judged at the first event using them."""
    if not terms.models:
        return []
    out = []
    for model, version in set(zip(b.models, b.versions)):
        i = next(i for i, (m, v) in enumerate(zip(b.models, b.versions)) if m == model and v == version)
        reason = terms.model_reason(model, version, catalog, b.times[i])
        if reason:
            allowed = "; ".join(f"{g.model}={g.version_rule}" for gs in terms.models.values() for g in gs)
            out.append(Finding(k.MODEL_NOT_ALLOWED, f"{model}@{version}", reason, i,
                               {"model": model, "model_version": version, "allowed": allowed}))
    return out


def _not_in(kind: str, what: str, values: Sequence[str], allowed: frozenset[str],
            verdict: str = "not allowed", allowed_key: str = "allowed") -> list[Finding]:
    """Values outside a non-empty allow-list; an empty value (not given) is never judged."""
    if not allowed:
        return []
    bad = set(values) - allowed - {""}
    return [Finding(kind, v, f"{what} {v} {verdict}", values.index(v),
                    {what.replace(" ", "_"): v, allowed_key: ",".join(sorted(allowed))}) for v in sorted(bad)]


def places(terms: LicenseTerms, b: BatchView) -> list[Finding]:
    """Hardware ids, regions and features outside the license's allow-lists."""
    out = _not_in(k.HARDWARE_NOT_ALLOWED, "hardware id", b.hardware, terms.hardware_ids)
    out += _not_in(k.REGION_NOT_ALLOWED, "region", b.regions, terms.regions)
    out += _denied(b.regions, terms)
    out += _not_in(k.FEATURE_NOT_ENABLED, "feature", b.features, terms.features, "not enabled", "enabled")
    return out


def _denied(regions: Sequence[str], terms: LicenseTerms) -> list[Finding]:
    """Regions refused by export control (reported as region_not_allowed; the allow-list may admit them)."""
    if not terms.export_denied:
        return []
    out = []
    for v in sorted(set(regions) - {""}):
        if v in terms.regions or not terms.regions:  # outside the allow-list is already reported above
            reason = terms.region_verdict(v)
            if reason:
                out.append(Finding(k.REGION_NOT_ALLOWED, v, reason, regions.index(v),
                                   {"region": v, "export_denied": ",".join(sorted(terms.export_denied))}))
    return out


MONTH = Period("month")


def hardware_count(terms: LicenseTerms, b: BatchView, seen: dict[str, list[str]]) -> list[Finding]:
    """Distinct hardware ids per UTC month (``seen``: month -> ids), beyond ``max_hardware``."""
    added = _hardware_of_one_month(b, seen)
    if added is None:
        added = _hardware_per_event(b, seen)
    limit = terms.max_hardware
    out = []
    if limit is not None:
        for month, i in added.items():
            ids = seen[month]
            if len(ids) > limit:
                out.append(Finding(k.HARDWARE_LIMIT, month, f"{len(ids)} distinct hardware ids in {month}, "
                                   f"at most {limit} allowed", i,
                                   {"distinct": len(ids), "max_hardware": limit, "hardware_ids": ",".join(ids)}))
    return out


def _hardware_of_one_month(b: BatchView, seen: dict[str, list[str]]) -> dict[str, int] | None:
    """A batch within one UTC month (the usual case): its distinct ids, in order of first use, at C
    speed; returns {month: first event adding an id} as the per-event walk does, or None for a batch
    spanning months."""
    month, start, end = MONTH.bounds(min(b.times))
    if max(b.times) >= end:
        return None
    distinct = [hw for hw in dict.fromkeys(b.hardware) if hw]
    if not distinct:
        return {}
    ids = seen.get(month)
    if ids is None:
        ids = seen[month] = []
    new = [hw for hw in distinct if hw not in ids]
    ids.extend(new)
    return {month: b.hardware.index(new[0])} if new else {}


def _hardware_per_event(b: BatchView, seen: dict[str, list[str]]) -> dict[str, int]:
    cache = PeriodCache(MONTH)
    added: dict[str, int] = {}
    for i, (t, hw) in enumerate(zip(b.times, b.hardware)):
        if not hw:
            continue
        month = cache.key_of(t)
        ids = seen.get(month)
        if ids is None:
            ids = seen[month] = []
        if hw not in ids:
            ids.append(hw)
            added.setdefault(month, i)
    return added


def check(terms: LicenseTerms, b: BatchView, hw_seen: dict[str, list[str]],
          catalog: ReleaseCatalog | None = None) -> list[Finding]:
    """Every term violation in one batch (version rules judged against ``catalog`` when given)."""
    return (status(terms) + validity(terms, b.times) + models(terms, b, catalog) + places(terms, b)
            + hardware_count(terms, b, hw_seen))

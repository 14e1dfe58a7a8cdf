"""The pre-check decision: may this license spend ``quantity`` of ``metric`` now?

Served over HTTP for the producer library's ``check``. Decisions, in order:
``license_invalid`` (revoked, suspended, outside the validity window, model or
version not allowed, feature not enabled), ``quota_exceeded`` (a hard limit
reached, or the request would pass it), ``soft_exceeded`` (a soft limit reached
or passed: allowed, but over), else ``allow``. Periods are judged at the
current wall-clock time in UTC.
"""

from __future__ import annotations

from typing import Any

from .license.terms import LicenseTerms
from meterstream.schemas.units import format_decimal
from .state import LicenseState, used_now

ALLOW, SOFT_EXCEEDED, QUOTA_EXCEEDED, LICENSE_INVALID = "allow", "soft_exceeded", "quota_exceeded", "license_invalid"


def invalid_reason(terms: LicenseTerms, now_us: int, feature: str | None, model: str | None,
                   model_version: str | None) -> str | None:
    """Why the license may not be used at all right now, or None."""
    reason = terms.status_reason() or terms.validity_reason(now_us)
    if reason:
        return f"license {reason}"
    if model:
        reason = terms.model_reason(model, model_version or "")
        if reason:
            return reason
    if feature and not terms.feature_allowed(feature):
        return f"feature {feature} not enabled"
    return None


def decide(terms: LicenseTerms, state: LicenseState | None, metric: str, quantity: int, now_us: int, *,
           feature: str | None = None, model: str | None = None, model_version: str | None = None) -> dict[str, Any]:
    """The check response body (see the HTTP contract in the README)."""
    st = state or LicenseState()
    out: dict[str, Any] = {"license_id": terms.license_id, "decision": ALLOW, "reason": None, "metric": metric,
                           "remaining": None, "period": None}
    reason = invalid_reason(terms, now_us, feature, model, model_version)
    q = terms.quotas.get(metric)
    if q is not None:
        used, period = used_now(st, metric, q.period, now_us)
        out["remaining"] = format_decimal(max(q.limit - used, 0))
        out["period"] = period
    if reason:
        out.update(decision=LICENSE_INVALID, reason=reason)
    elif q is not None and used + quantity > q.limit or q is not None and used >= q.limit:
        kind = "hard" if q.hard else "soft"
        out["decision"] = QUOTA_EXCEEDED if q.hard else SOFT_EXCEEDED
        out["reason"] = (f"{kind} limit of {format_decimal(q.limit)} {metric} per {q.period} "
                         f"{'reached' if used >= q.limit else 'would be passed'}: used {format_decimal(used)}")
    return out


def quota_state(terms: LicenseTerms | None, state: LicenseState | None, license_id: str,
                now_us: int) -> dict[str, Any]:
    """Every metric's limit, use and alerts in its current period (``GET .../quota``)."""
    st = state or LicenseState()
    metrics: dict[str, Any] = {}
    fired = [e.alert for e in st.outbox.values()]
    for metric, q in (terms.quotas if terms else {}).items():
        used, period = used_now(st, metric, q.period, now_us)
        if q.period.rolling:
            marks = sorted(st.rolling[metric].armed) if metric in st.rolling else []
        else:
            marks = sorted({a["threshold"] for a in fired
                            if a["kind"] == "threshold" and a["metric"] == metric and a["period"] == period})
        metrics[metric] = {
            "limit": format_decimal(q.limit), "used": format_decimal(used),
            "remaining": format_decimal(max(q.limit - used, 0)), "period": period, "period_kind": str(q.period),
            "hard": q.hard, "exhausted": q.hard and used >= q.limit, "thresholds": list(q.thresholds),
            "thresholds_fired": marks,
        }
    return {
        "license_id": license_id,
        "known": terms is not None,
        "status": terms.status if terms else None,
        "tier": terms.tier if terms else None,
        "invalid_reason": invalid_reason(terms, now_us, None, None, None) if terms else "unknown license",
        "metrics": metrics,
        "totals": {"events": st.events, "quantity": {m: format_decimal(v) for m, v in st.quantity.items()}},
        "repeats_dropped": st.repeats,
        "alerts_fired": len(fired),
    }

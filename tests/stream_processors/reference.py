"""An independent reference of what the processors must conclude from some traffic.

Written from the rules as documented (periods in UTC from event time, a
threshold fires once per metric and period when usage reaches it, a hard limit
reached means quota_exhausted), with datetime arithmetic rather than the
processors' own helpers, so a shared bug cannot hide.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any


def period_key(kind: str, t_us: int) -> str:
    d = datetime.fromtimestamp(t_us / 1e6, tz=timezone.utc)
    return d.strftime("%Y-%m-%d") if kind == "day" else d.strftime("%Y-%m")


@dataclass
class Reference:
    """Usage per (license, metric, period) and the alerts it implies."""

    quotas: dict[str, dict[str, tuple[int, str, bool, tuple[int, ...]]]]  # license -> metric -> (limit, kind, hard, th)
    events: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    totals: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    used: dict[tuple[str, str, str], int] = field(default_factory=lambda: defaultdict(int))

    def add(self, license_id: str, metric: str, unscaled: int, t_us: int) -> None:
        self.events[license_id] += 1
        self.totals[license_id][metric] += unscaled
        q = self.quotas.get(license_id, {}).get(metric)
        if q is not None:
            self.used[(license_id, metric, period_key(q[1], t_us))] += unscaled

    def expected_alerts(self) -> set[tuple[Any, ...]]:
        out: set[tuple[Any, ...]] = set()
        for (lic, metric, period), used in self.used.items():
            limit, _, hard, thresholds = self.quotas[lic][metric]
            for t in thresholds:
                if used * 100 >= limit * t:
                    out.add((lic, "threshold", metric, period, t))
            if hard and used >= limit:
                out.add((lic, "quota_exhausted", metric, period, None))
        return out


def identity(alert: dict[str, Any]) -> tuple[Any, ...]:
    return (alert["license_id"], alert["kind"], alert["metric"], alert["period"], alert["threshold"])

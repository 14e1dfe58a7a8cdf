"""Applies one usage message to a license's state: count, check quotas and terms, collect alerts.

Pure Python over the decoded columns of one message, no Faust in here. The
Faust agent calls ``apply_message`` once per Kafka message (many events of one
license) and then writes the state and sends the alerts it returns.

Exactly-once effects: a message whose offset is not above the state's last
applied offset was already applied (Faust redelivers after a crash); it is not
counted again, and the alerts it fired are returned again (same ids) in case
they never reached the alerts topic. Events whose (producer, sequence) was
already seen (a producer replaying its spool) are not counted again either.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from meterstream.schemas.units import format_decimal

from . import alerts as k
from . import reservations
from .alerts import MessageAlerts, Outbox, prune, resend_for_offset
from .anomaly import rules, sequence, spike
from .bucket_sums import bucket_sums
from .governance.govern import govern_message, resend_spend
from .license.releases import ReleaseCatalog
from .license.terms import LicenseTerms
from .quota import DAY_US, Period, PeriodCache
from .state import LicenseState, prune_days
from .thresholds import Columns, judge_quotas

if TYPE_CHECKING:
    from .governance.view import GovernanceView

FIELDS = ("event_time", "producer_id", "sequence", "feature", "model", "model_version", "metric", "quantity",
          "team", "hardware_id", "region", "reservation_id")  # reservation_id: usage event v2 (None before)
DAY = Period("day")


@dataclass(frozen=True)
class MeteringRules:
    """Tunables of the per-message logic (set from ProcessorSettings)."""

    gap_grace_us: int = 60_000_000
    alert_retention_us: int = 2 * DAY_US  # how long after a period ends its alert marks are kept
    spike: spike.SpikeSettings = field(default_factory=spike.SpikeSettings)


@dataclass
class Applied:
    """What one message did: the alerts to send, whether the state changed, the events counted."""

    alerts: list[dict[str, Any]]
    changed: bool
    counted: int = 0
    spend: list[dict[str, Any]] = field(default_factory=list)  # governance: Spend records for the budget agent


def _select(cols: Columns, keep: list[int]) -> Columns:
    return {name: [col[i] for i in keep] for name, col in cols.items()}


def apply_message(state: LicenseState | None, license_id: str, terms: LicenseTerms | None, offset: int,
                  cols: Columns, rules_: MeteringRules, *, flag_unknown: bool = True,
                  event_id: Callable[[int], str | None] = lambda i: None,
                  catalog: ReleaseCatalog | None = None,
                  governance: GovernanceView | None = None) -> tuple[LicenseState, Applied]:
    """Apply one message; return the (possibly new) state and what happened.

    Version rules are judged against ``catalog``; counted events naming a
    reservation close it (their actual amount is what counts).
    ``governance`` (the worker's inventory, policies, exceptions, prices and
    budgets) adds policy violations, money spikes and spend records.
    """
    st = state if state is not None else LicenseState()
    if offset <= st.offset:
        return st, Applied(resend_for_offset(st.outbox, offset), changed=False,
                           spend=_governance_resend(st, governance, license_id))
    times = cols["event_time"]
    if not times:
        st.offset = offset
        return st, Applied([], changed=True)
    box = Outbox(st.outbox, offset)
    alerts = MessageAlerts(license_id, terms.tenant if terms else "", box, times, rules_.alert_retention_us,
                           event_id)
    spend: list[dict[str, Any]] = []
    seq = sequence.apply(st.seq, cols["producer_id"], cols["sequence"], times)
    counted = cols if seq.keep is None else _select(cols, seq.keep)
    _repeats(alerts, st, seq)
    if counted["event_time"]:
        sums, spikes = _count(st, counted, rules_.spike.bucket_us)
        of_counted = alerts.over(seq.keep)  # indices below are positions among the counted events
        if terms is not None:
            judge_quotas(of_counted, st, terms, sums, counted, rules_.alert_retention_us)
        _anomalies(of_counted, st, terms, counted, flag_unknown, catalog)
        if st.reservations and "reservation_id" in counted:  # most licenses hold none: skip the column
            reservations.capture(st, counted["reservation_id"])
        _spikes(of_counted, st, spikes, rules_.spike)
        if governance is not None:
            spend = govern_message(of_counted, st, counted, governance, license_id, offset, rules_.spike)
    t_max = max(times)
    _gaps(alerts, st, t_max, rules_.gap_grace_us)
    prune(st.outbox, t_max)
    prune_days(st)
    st.offset = offset
    return st, Applied(box.new, changed=True, counted=len(counted["event_time"]), spend=spend)


def _governance_resend(st: LicenseState, governance: GovernanceView | None, license_id: str) -> list[dict[str, Any]]:
    return [] if governance is None else resend_spend(st, governance, license_id)


def _day(t_us: int) -> str:
    return DAY.bounds(t_us)[0]


def _count(st: LicenseState, c: Columns, bucket_us: int) -> tuple[dict[tuple[str, str], int],
                                                                   dict[tuple[str, str, int], int]]:
    """Add the events to totals and per-day usage; return (metric, day) sums and (team, metric, bucket) sums.

    The events are summed into the spike buckets (``bucket_sums``); totals and day sums are added up
    from the (few) buckets afterwards when a bucket lies within one UTC day (its width divides a day)."""
    if DAY_US % bucket_us:
        return _count_per_event(st, c, bucket_us)
    spikes = bucket_sums(c["metric"], c["quantity"], c["event_time"], c["team"], bucket_us)
    totals, day_cache = st.quantity, PeriodCache(DAY)
    sums: dict[tuple[str, str], int] = {}
    for (_, m, b), q in spikes.items():  # keys in order of their first event, as the per-event loop adds them
        totals[m] = totals.get(m, 0) + q
        key = (m, day_cache.key_of(b * bucket_us))
        sums[key] = sums.get(key, 0) + q
    _add_days(st, sums)
    st.events += len(c["metric"])
    return sums, spikes


def _count_per_event(st: LicenseState, c: Columns, bucket_us: int) -> tuple[dict[tuple[str, str], int],
                                                                            dict[tuple[str, str, int], int]]:
    """``_count`` for a bucket width that does not divide a day: each event's day found on its own."""
    totals = st.quantity
    day_cache = PeriodCache(DAY)
    sums: dict[tuple[str, str], int] = {}
    spikes: dict[tuple[str, str, int], int] = {}
    for m, q, t, team in zip(c["metric"], c["quantity"], c["event_time"], c["team"]):
        totals[m] = totals.get(m, 0) + q
        key = (m, day_cache.key_of(t))
        sums[key] = sums.get(key, 0) + q
        sk = (team, m, t // bucket_us)
        spikes[sk] = spikes.get(sk, 0) + q
    _add_days(st, sums)
    st.events += len(c["metric"])
    return sums, spikes


def _add_days(st: LicenseState, sums: dict[tuple[str, str], int]) -> None:
    days_all = st.days
    for (m, d), q in sums.items():
        days = days_all.get(m)
        if days is None:
            days = days_all[m] = {}
        days[d] = days.get(d, 0) + q


def _anomalies(alerts: MessageAlerts, st: LicenseState, terms: LicenseTerms | None, c: Columns,
               flag_unknown: bool, catalog: ReleaseCatalog | None) -> None:
    """License-term violations of the counted events, or the unknown-license alert."""
    if terms is None:
        st.unknown_events += len(c["event_time"])
        if flag_unknown:
            alerts.fire(k.UNKNOWN_LICENSE, "usage of a license id that has no terms", _day(c["event_time"][0]),
                        index=0, evidence={"events": len(c["event_time"]), "unknown_events": st.unknown_events})
        return
    view = rules.BatchView(c["event_time"], c["model"], c["model_version"], c["hardware_id"], c["region"],
                           c["feature"])
    for f in rules.check(terms, view, st.hw, catalog):
        alerts.fire(f.kind, f.message, _day(c["event_time"][f.index]), index=f.index, subject=f.subject,
                    evidence=f.evidence, team=c["team"][f.index])


def _spikes(alerts: MessageAlerts, st: LicenseState, sums: dict[tuple[str, str, int], int],
            cfg: spike.SpikeSettings) -> None:
    """Judge each (metric, bucket) against the license's baseline and each team's own."""
    per_license: dict[tuple[str, int], int] = {}
    for (team, m, b), q in sums.items():
        per_license[(m, b)] = per_license.get((m, b), 0) + q
    found = [(spike.add(st.spike, m, b, q, cfg), "") for (m, b), q in sorted(per_license.items(), key=_bk)]
    found += [(spike.add(st.spike, f"{team}|{m}", b, q, cfg), team)
              for (team, m, b), q in sorted(sums.items(), key=lambda kv: kv[0][2])
              if team]  # events without a team are judged once, in the license's own baseline
    for s, team in found:
        if s is None:
            continue
        metric = s.scope.rsplit("|", 1)[-1]
        start = s.bucket * cfg.bucket_us
        alerts.fire(k.SPEND_SPIKE, f"{metric} use of {'team ' + team if team else 'the license'} "
                    f"is {s.total / max(s.mean, 1):.1f}x its baseline", _day(start), index=0, metric=metric,
                    subject=f"{s.scope}@{s.bucket}", team=team,
                    evidence={"scope": "team" if team else "license", "bucket_start_us": start,
                              "bucket_seconds": cfg.bucket_us // 1_000_000, "total": format_decimal(s.total),
                              "baseline_mean": format_decimal(int(s.mean)),
                              "baseline_stddev": format_decimal(int(s.stddev)), "history_buckets": s.history,
                              "k": cfg.k, "ratio": cfg.ratio})


def _bk(kv: tuple[tuple[str, int], int]) -> int:
    return kv[0][1]


def _repeats(alerts: MessageAlerts, st: LicenseState, seq: sequence.SequenceResult) -> None:
    """Count and report the events dropped because their sequence numbers were already seen."""
    for producer, (count, first, index) in seq.repeats.items():
        st.repeats += count
        alerts.fire(k.SEQUENCE_REPEAT, f"{count} events of producer {producer} repeated already-counted "
                    "sequence numbers; they were not counted again", _day(alerts.times[index]),
                    index=index, subject=producer,
                    evidence={"producer_id": producer, "repeated": count, "first_repeated_sequence": first,
                              "next_expected": st.seq[producer].hi})


def _gaps(alerts: MessageAlerts, st: LicenseState, now_us: int, grace_us: int) -> None:
    """Report the sequence holes that stayed open longer than the grace."""
    for producer, start, end, seen in sequence.due_gaps(st.seq, now_us, grace_us):
        alerts.fire(k.SEQUENCE_GAP, f"producer {producer} skipped sequence numbers {start}..{end - 1}",
                    _day(seen), subject=f"{producer}:{start}", index=0,
                    evidence={"producer_id": producer, "missing_from": start, "missing_to": end - 1,
                              "missing": end - start, "first_seen_us": seen})

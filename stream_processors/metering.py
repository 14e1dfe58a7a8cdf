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

import functools
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from . import alerts as k
from .alerts import Outbox, make_alert, prune, resend_for_offset
from .anomaly import rules, sequence, spike
from .license.terms import LicenseTerms
from meterstream.schemas.units import format_decimal

from .quota import DAY_US, Period, PeriodCache, period_end_us, prune_rolling, rearm, rolling_used
from .state import new_state, period_used, prune_days

FIELDS = ("event_time", "producer_id", "sequence", "feature", "model", "model_version", "metric", "quantity",
          "team", "hardware_id", "region")
DAY = Period("day")


@dataclass(frozen=True)
class MeteringRules:
    """Tunables of the per-message logic (set from ProcessorSettings)."""

    gap_grace_us: int = 60_000_000
    alert_retention_us: int = 2 * DAY_US  # how long after a period ends its alert marks are kept
    spike: spike.SpikeSettings = field(default_factory=spike.SpikeSettings)


@dataclass
class Applied:
    alerts: list[dict[str, Any]]
    changed: bool
    counted: int = 0


def _select(cols: dict[str, list[Any]], keep: list[int]) -> dict[str, list[Any]]:
    return {name: [col[i] for i in keep] for name, col in cols.items()}


def apply_message(state: dict[str, Any] | None, license_id: str, terms: LicenseTerms | None, offset: int,
                  cols: dict[str, list[Any]], rules_: MeteringRules, *, flag_unknown: bool = True,
                  event_id: Callable[[int], str | None] = lambda i: None) -> tuple[dict[str, Any], Applied]:
    """Apply one message; return the (possibly new) state and what happened."""
    st = state if state is not None else new_state()
    if offset <= st["offset"]:
        return st, Applied(resend_for_offset(st, offset), changed=False)
    times = cols["event_time"]
    if not times:
        st["offset"] = offset
        return st, Applied([], changed=True)
    box = Outbox(st, offset)
    ctx = _Ctx(license_id, terms, box, rules_, cols, event_id)
    seq = sequence.apply(st["seq"], cols["producer_id"], cols["sequence"], times)
    counted = cols if seq.keep is None else _select(cols, seq.keep)
    _repeats(ctx, st, seq)
    if counted["event_time"]:
        sums, spikes = _count(st, counted, rules_.spike.bucket_us)
        _quotas(ctx, st, sums, counted)
        _anomalies(ctx, st, counted, flag_unknown)
        _spikes(ctx, st, spikes, counted)
    t_max = max(times)
    for producer, start, end, seen in sequence.due_gaps(st["seq"], t_max, rules_.gap_grace_us):
        ctx.fire(k.SEQUENCE_GAP, f"producer {producer} skipped sequence numbers {start}..{end - 1}",
                 _day(seen), subject=f"{producer}:{start}", index=0,
                 evidence={"producer_id": producer, "missing_from": start, "missing_to": end - 1,
                           "missing": end - start, "first_seen_us": seen})
    prune(st, t_max)
    prune_days(st)
    st["offset"] = offset
    return st, Applied(box.new, changed=True, counted=len(counted["event_time"]))


def _day(t_us: int) -> str:
    return DAY.bounds(t_us)[0]


class _Ctx:
    """What the helpers of one message share."""

    def __init__(self, license_id: str, terms: LicenseTerms | None, box: Outbox, rules_: MeteringRules,
                 cols: dict[str, list[Any]], event_id: Callable[[int], str | None]) -> None:
        self.license_id, self.terms, self.box, self.rules = license_id, terms, box, rules_
        self.cols, self.event_id = cols, event_id
        self.tenant = terms.tenant if terms else ""

    def fire(self, kind: str, message: str, period: str, *, index: int, metric: str = "", subject: str = "",
             threshold: int | None = None, evidence: dict[str, Any] | None = None, team: str = "",
             forget_after_us: int | None = None, event_id: str | None = None) -> None:
        aid = k.alert_id(self.license_id, kind, metric, period, threshold, subject)
        if self.box.has(aid):
            return
        alert = make_alert(self.license_id, kind, message, metric=metric, period=period, threshold=threshold,
                           subject=subject, evidence=evidence, tenant=self.tenant, team=team,
                           event_id=event_id if event_id is not None else self.event_id(index))
        t = self.cols["event_time"][min(index, len(self.cols["event_time"]) - 1)]
        self.box.fire(alert, forget_after_us if forget_after_us is not None
                      else t - t % DAY_US + DAY_US + self.rules.alert_retention_us)


def _count(st: dict[str, Any], c: dict[str, list[Any]], bucket_us: int) -> tuple[dict[Any, int], dict[Any, int]]:
    """Add the events to totals and per-day usage; return (metric, day) sums and spike sums."""
    totals, days_all = st["quantity"], st["days"]
    day_cache = PeriodCache(DAY)
    sums: dict[tuple[str, str], int] = {}
    spikes: dict[tuple[str, str, int], int] = {}
    for m, q, t, team in zip(c["metric"], c["quantity"], c["event_time"], c["team"]):
        totals[m] = totals.get(m, 0) + q
        key = (m, day_cache.key_of(t))
        sums[key] = sums.get(key, 0) + q
        b = t // bucket_us
        sk = (team, m, b)
        spikes[sk] = spikes.get(sk, 0) + q
    for (m, d), q in sums.items():
        days = days_all.get(m)
        if days is None:
            days = days_all[m] = {}
        days[d] = days.get(d, 0) + q
    st["events"] += len(c["metric"])
    return sums, spikes


def _quotas(ctx: _Ctx, st: dict[str, Any], sums: dict[tuple[str, str], int], c: dict[str, list[Any]]) -> None:
    terms = ctx.terms
    if terms is None:
        return
    touched: set[tuple[str, str]] = set()
    rolling: set[str] = set()
    for m, d in sums:
        q = terms.quotas.get(m)
        if q is None:
            continue
        if q.period.rolling:
            rolling.add(m)
        else:
            touched.add((m, d if q.period.kind == "day" else d[:7]))
    for m in sorted(rolling):
        _rolling(ctx, st, terms.quotas[m], c)
    for m, key in sorted(touched):
        q = terms.quotas[m]
        used = period_used(st, m, q.period, key)
        _thresholds(ctx, st, q, key, used, functools.partial(_last_in, c, m, q.period, key), key,
                    forget_after_us=period_end_us(q.period, key) + ctx.rules.alert_retention_us)


def _last_in(c: dict[str, list[Any]], metric: str, period: Period, key: str) -> int:
    """Index of the last event of ``metric`` in period ``key`` (the one that brought usage to its level)."""
    cache = PeriodCache(period)
    found = 0
    for i, (m, t) in enumerate(zip(c["metric"], c["event_time"])):
        if m == metric and cache.key_of(t) == key:
            found = i
    return found


def _thresholds(ctx: _Ctx, st: dict[str, Any], q: Any, period_key: str, used: int, index: Callable[[], int],
                alert_period: str, fired: dict[str, Any] | None = None, forget_after_us: int | None = None) -> None:
    """Fire threshold and hard-limit alerts for one (metric, period) at usage ``used``.

    ``fired`` (rolling windows) holds the armed marks; calendar periods rely on the outbox ids.
    """
    lid = ctx.license_id
    evidence = {"used": format_decimal(used), "limit": format_decimal(q.limit), "hard": q.hard}
    for t in q.thresholds:
        if used * 100 < q.limit * t:
            continue
        if fired is not None:
            if str(t) in fired:
                continue
            fired[str(t)] = alert_period
        elif ctx.box.has(k.alert_id(lid, k.THRESHOLD, q.metric, alert_period, t)):
            continue
        ctx.fire(k.THRESHOLD, f"{q.metric} reached {t}% of its {q.period} {'hard' if q.hard else 'soft'} limit",
                 alert_period, index=index(), metric=q.metric, threshold=t, evidence=evidence,
                 forget_after_us=forget_after_us)
    if q.hard and used >= q.limit:
        st["exhausted"][q.metric] = period_key
        if fired is not None:
            if "hard" in fired:
                return
            fired["hard"] = alert_period
        if not ctx.box.has(k.alert_id(lid, k.QUOTA_EXHAUSTED, q.metric, alert_period)):
            ctx.fire(k.QUOTA_EXHAUSTED, f"hard limit of {q.metric} reached: further use is refused",
                     alert_period, index=index(), metric=q.metric, evidence=evidence, forget_after_us=forget_after_us)
    elif st["exhausted"].get(q.metric) == period_key:
        del st["exhausted"][q.metric]


def _rolling(ctx: _Ctx, st: dict[str, Any], q: Any, c: dict[str, list[Any]]) -> None:
    """Rolling window: add to sub-buckets, re-arm thresholds usage fell below, fire new crossings."""
    buckets = st["rolling"].setdefault(q.metric, {})
    width = q.period.bucket_us
    last = 0
    for i, (m, qty, t) in enumerate(zip(c["metric"], c["quantity"], c["event_time"])):
        if m == q.metric:
            b = str(t // width)
            buckets[b] = buckets.get(b, 0) + qty
            last = i
    now = max(c["event_time"])
    used = rolling_used(buckets, q.period, now)
    fired = st["armed"].setdefault(q.metric, {})
    rearm(used, q.limit, fired)
    period = f"{q.period}@{now // width}"
    _thresholds(ctx, st, q, str(q.period), used, lambda: last, period, fired)
    prune_rolling(buckets, q.period, now)


def _anomalies(ctx: _Ctx, st: dict[str, Any], c: dict[str, list[Any]], flag_unknown: bool) -> None:
    terms = ctx.terms
    if terms is None:
        st["unknown_events"] += len(c["event_time"])
        if flag_unknown:
            ctx.fire(k.UNKNOWN_LICENSE, "usage of a license id that has no terms", _day(c["event_time"][0]),
                     index=0, evidence={"events": len(c["event_time"]), "unknown_events": st["unknown_events"]})
        return
    view = rules.BatchView(c["event_time"], c["model"], c["model_version"], c["hardware_id"], c["region"],
                           c["feature"])
    for f in rules.check(terms, view, st["hw"]):
        ctx.fire(f.kind, f.message, _day(c["event_time"][f.index]), index=f.index, subject=f.subject,
                 evidence=f.evidence, team=c["team"][f.index])


def _spikes(ctx: _Ctx, st: dict[str, Any], sums: dict[tuple[str, str, int], int], c: dict[str, list[Any]]) -> None:
    cfg = ctx.rules.spike
    per_license: dict[tuple[str, int], int] = {}
    for (team, m, b), q in sums.items():
        per_license[(m, b)] = per_license.get((m, b), 0) + q
    found = [(spike.add(st["spike"], m, b, q, cfg), "") for (m, b), q in sorted(per_license.items(), key=_bk)]
    found += [(spike.add(st["spike"], f"{team}|{m}", b, q, cfg), team)
              for (team, m, b), q in sorted(sums.items(), key=lambda kv: kv[0][2])
              if team]  # events without a team are judged once, in the license's own baseline
    for s, team in found:
        if s is None:
            continue
        metric = s.scope.rsplit("|", 1)[-1]
        start = s.bucket * cfg.bucket_us
        ctx.fire(k.SPEND_SPIKE, f"{metric} use of {'team ' + team if team else 'the license'} "
                 f"is {s.total / max(s.mean, 1):.1f}x its baseline", _day(start), index=0, metric=metric,
                 subject=f"{s.scope}@{s.bucket}", team=team,
                 evidence={"scope": "team" if team else "license", "bucket_start_us": start,
                           "bucket_seconds": cfg.bucket_us // 1_000_000, "total": format_decimal(s.total),
                           "baseline_mean": format_decimal(int(s.mean)),
                           "baseline_stddev": format_decimal(int(s.stddev)), "history_buckets": s.history,
                           "k": cfg.k, "ratio": cfg.ratio})


def _bk(kv: tuple[tuple[str, int], int]) -> int:
    return kv[0][1]


def _repeats(ctx: _Ctx, st: dict[str, Any], seq: sequence.SequenceResult) -> None:
    for producer, (count, first, index) in seq.repeats.items():
        st["repeats"] += count
        ctx.fire(k.SEQUENCE_REPEAT, f"{count} events of producer {producer} repeated already-counted "
                 "sequence numbers; they were not counted again", _day(ctx.cols["event_time"][index]),
                 index=index, subject=producer,
                 evidence={"producer_id": producer, "repeated": count, "first_repeated_sequence": first,
                           "next_expected": st["seq"][producer][0]})

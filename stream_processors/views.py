"""HTTP views of the quota state (Faust web), routed to the worker that owns the license.

* ``POST /v1/validate``, ``POST /v1/reservations``, ``DELETE /v1/reservations/{id}``:
  by license key (header ``X-License-Key``), see ``access.py`` and ``validation.py``.
* ``GET /v1/licenses/{id}/check?metric=&quantity=&feature=&model=&model_version=``
  -> the pre-check decision (``enforcement.decide``, then the policy's blocking
  rules, ``governance.check``: more event fields may be given, e.g. ``use_case``,
  ``app``, ``environment``, ``user_id``, ``data_categories``); 404 for an unknown license.
  With ``processor_check_requires_key`` it (and ``quota``) needs the license's key too.
* ``GET /v1/licenses/{id}/quota`` -> every metric's limit, use and alerts fired.
* ``GET /v1/stats`` -> this worker's counters, latency and assigned partitions.
* ``GET /totals/`` and ``GET /totals/{id}/`` -> all-time events and quantity
  (unscaled integers) per license: the local worker's licenses, or one license.

A request reaching a worker that does not own the license's partition is
forwarded to the owner (``app.table_route``; both tables are co-partitioned).
"""

from __future__ import annotations

from typing import Any

import faust
from faust.web import Request, Response, View

from meterstream.clock import now_us
from meterstream.schemas.units import METRICS, to_unscaled

from .access import Gate, presented_key
from .enforcement import decide, quota_state
from .governance.check import judge_request, overlay, request_fields
from .key_index import key_hash, verify_key
from .validation import Ask, BadRequest
from .license.registry import TermsCache
from .state import LicenseState
from .state_table import LicenseStates
from .stats import Stats

def parse_quantity(text: str | None) -> int:
    """``quantity`` query parameter as unscaled millionths (default 0: "may I use it at all?")."""
    if text is None or text == "":
        return 0
    try:
        return to_unscaled(text)
    except ValueError as exc:
        raise ValueError(f"quantity: {exc}") from None


def _key_refused(request: Request, t: Any, required: bool) -> bool:
    """With keys required: True unless the request carries one of the license's keys."""
    if not required:
        return False
    key = presented_key(request)
    return t is None or key is None or not verify_key(t, key_hash(key))


def register_views(app: faust.App, terms_table: Any, states: LicenseStates, terms: TermsCache, stats: Stats,
                   gate: Gate, check_requires_key: bool = False) -> None:
    """Attach the views to ``app``."""

    class Validate(View):
        async def post(self, request: Request) -> Response:
            status, body = await gate.handle(request, "validate")
            return self.json(body, status=status)

    class Reserve(View):
        async def post(self, request: Request) -> Response:
            status, body = await gate.handle(request, "reserve")
            return self.json(body, status=status)

    class Release(View):
        async def delete(self, request: Request, reservation_id: str) -> Response:
            status, body = await gate.handle(request, "release", reservation_id)
            return self.json(body, status=status)

    class Check(View):
        @app.table_route(table=terms_table, match_info="license_id")  # type: ignore[arg-type]
        async def get(self, request: Request, license_id: str) -> Response:
            t = terms.get(license_id)
            if _key_refused(request, t, check_requires_key):
                return self.json({"license_id": license_id, "error": "unknown license or wrong key"}, status=404)
            if t is None:
                return self.json({"license_id": license_id, "error": "unknown license"}, status=404)
            q = request.query
            metric = q.get("metric")
            if metric is None or metric not in METRICS:
                return self.json({"license_id": license_id, "field": "metric",
                                  "error": f"metric must be one of {sorted(METRICS)}, got {metric!r}"}, status=400)
            try:
                quantity = parse_quantity(q.get("quantity"))
            except ValueError as exc:
                return self.json({"license_id": license_id, "field": "quantity", "error": str(exc)}, status=400)
            ask = Ask(metric, quantity, q.get("feature") or None, q.get("model") or None,
                      q.get("model_version") or None)
            st, now = states.peek(license_id), now_us()
            body = decide(t, st, metric, quantity, now, feature=ask.feature, model=ask.model,
                          model_version=ask.model_version)
            if gate.governance is not None:  # the policy's blocking rules, after the license decision
                try:
                    fields = request_fields(q)
                except BadRequest as exc:
                    return self.json({"license_id": license_id, "field": exc.field, "error": str(exc)}, status=400)
                body = overlay(body, judge_request(gate.governance, st, license_id, fields, now))
            body["decision_id"] = gate.log_check(t, ask, body, str(request.headers.get("X-Forwarded-For") or ""),
                                                 now)
            return self.json(body)

    class Quota(View):
        @app.table_route(table=terms_table, match_info="license_id")  # type: ignore[arg-type]
        async def get(self, request: Request, license_id: str) -> Response:
            t, st = terms.get(license_id), states.peek(license_id)
            if _key_refused(request, t, check_requires_key):
                return self.json({"license_id": license_id, "error": "unknown license or wrong key"}, status=404)
            if t is None and st is None:
                return self.json({"license_id": license_id, "error": "unknown license"}, status=404)
            return self.json(quota_state(t, st, license_id, now_us()))

    class WorkerStats(View):
        async def get(self, request: Request) -> Response:
            """This worker's counters; ``?reset_latency=1`` starts a fresh latency sample."""
            assigned = sorted(tp.partition for tp in app.assignor.assigned_actives()
                              if tp.topic == app.conf.id + "-license_state-changelog" or tp.topic.endswith("usage"))
            body = {**stats.as_dict(), "partitions": sorted(set(assigned))}
            if request.query.get("reset_latency"):
                stats.reset_latency()
            return self.json(body)

    class AllTotals(View):
        async def get(self, request: Request) -> Response:
            return self.json({lid: _totals(st) for lid, st in states.items()})

    class LicenseTotals(View):
        @app.table_route(table=states.table, match_info="license_id")  # type: ignore[arg-type]
        async def get(self, request: Request, license_id: str) -> Response:
            st = states.peek(license_id)
            if st is None:
                return self.json({"license_id": license_id, "error": "unknown license"}, status=404)
            return self.json({"license_id": license_id, **_totals(st)})

    app.page("/v1/validate")(Validate)
    app.page("/v1/reservations")(Reserve)
    app.page("/v1/reservations/{reservation_id}")(Release)
    app.page("/v1/licenses/{license_id}/check")(Check)
    app.page("/v1/licenses/{license_id}/quota")(Quota)
    app.page("/v1/stats")(WorkerStats)
    app.page("/totals/")(AllTotals)
    app.page("/totals/{license_id}/")(LicenseTotals)


def _totals(state: LicenseState) -> dict[str, Any]:
    return {"events": state.events, "quantity": dict(state.quantity), "offset": state.offset}

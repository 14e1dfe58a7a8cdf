"""Validate, reserve and release by license key: find the license, route to its owner, decide atomically.

1. The key comes in a header (``X-License-Key``, or ``Authorization: Bearer``),
   never in the URL, so it stays out of access logs and proxies' caches.
2. The receiving worker hashes it and looks the hash up in its key index
   (``key_index.py``: every worker knows every license's key hashes). No
   match: ``unknown_key``, the same answer whether the license exists or not,
   after the client's wrong-key budget (``throttle.py``) is charged.
3. The request goes to the worker owning the license's partition (one hop,
   body and headers kept); there the key is verified against the terms in
   constant time, and the decision is taken.
4. On the owner, reading the state, judging, and writing a reservation or a
   newly validated machine back to the table happen in one synchronous step
   on the event loop: no other request for the license can interleave. A
   reservation is answered only once the producer has flushed, so the table's
   changelog (and the decision) are in Kafka before the caller relies on it.
5. With governance wired (``governance/check.py``), a use the license allows is
   then judged against the policy's blocking rules, over the event fields of
   the body (``use_case``, ``app``, ``environment``, ``user_id``,
   ``data_categories``, ...), with the exceptions valid now: a refusal answers
   ``policy_blocked`` or ``exception_required`` (``policy`` names the rule),
   reserves nothing and records no machine. The same function judges the
   check by license id.
"""

from __future__ import annotations

import json
import logging
from typing import Any, cast

import faust
from aiohttp import web
from faust.web import Request
from yarl import URL

from meterstream.clock import now_us
from meterstream.kafka.partitioner import partition_for

from . import decisions, reservations
from .decisions import DecisionLog
from .governance.check import body_fields, judge_request
from .governance.view import GovernanceView
from .key_index import KeyIndex, key_hash, verify_key
from .license.registry import TermsCache
from .license.releases import ReleaseCatalog
from .license.terms import LicenseTerms
from .state import LicenseState
from .state_table import LicenseStates
from .throttle import KeyFailures
from .validation import OK, UNKNOWN, Ask, BadRequest, Verdict, answer, judge

log = logging.getLogger(__name__)

STATE_TABLE = "license_state"
HOP = "X-Meterstream-Hop"  # set on a request forwarded to the owner: it is never forwarded again
CLIENT = "X-Meterstream-Client"  # the original caller's address, for the decision record
Answer = tuple[int, dict[str, Any]]
RELEASED = Verdict(OK, "reservation released")  # a release is not judged against the terms


def presented_key(request: Request) -> str | None:
    key = request.headers.get("X-License-Key")
    if not key:
        auth = request.headers.get("Authorization", "")
        key = auth[7:].strip() if auth[:7].lower() == "bearer " else None
    return key or None


class Gate:
    """The validate/reserve/release path of one worker."""

    def __init__(self, app: faust.App, terms: TermsCache, states: LicenseStates, index: KeyIndex,
                 catalog: ReleaseCatalog, log_: DecisionLog, failures: KeyFailures, partitions: int,
                 governance: GovernanceView | None = None) -> None:
        self.partitions = partitions
        self.governance = governance
        self.app, self.terms, self.states, self.index, self.catalog = app, terms, states, index, catalog
        self.decisions, self.failures = log_, failures
        self.forwarded = 0

    async def handle(self, request: Request, kind: str, reservation_id: str | None = None) -> Answer:
        """One request of ``kind`` (validate, reserve or release): (HTTP status, JSON body)."""
        key = presented_key(request)
        if key is None:
            return 401, {"error": "a license key is required in the X-License-Key header"}
        req = cast(web.Request, request)  # Faust's aiohttp driver hands views aiohttp requests
        try:
            raw = await req.read()
            body = json.loads(raw) if raw else {}
            ask = Ask.parse(body, reserve=kind == "reserve")
            fields = body_fields(body) if kind != "release" else {}
        except BadRequest as exc:
            return 400, {"error": str(exc), "field": exc.field}
        except ValueError:
            return 400, {"error": "body: not JSON", "field": "body"}
        presented = key_hash(key)
        client = request.headers.get(CLIENT) if request.headers.get(HOP) else None
        client = client or str(req.remote or "")
        license_id = self.index.lookup(presented)
        if license_id is None:
            return await self._unknown(kind, ask, client)
        owner = self._owner(license_id)
        if owner is not None and not request.headers.get(HOP):
            return await self._forward(owner, req, client)
        terms = self.terms.get(license_id)
        if terms is None or not verify_key(terms, presented):
            return await self._unknown(kind, ask, client)
        return await self._decide(kind, terms, ask, client, reservation_id, fields)

    async def _unknown(self, kind: str, ask: Ask, client: str) -> Answer:
        await self.failures.penalise(client)
        decision_id = decisions.new_decision_id()
        self.decisions.log(decisions.record(kind, decision_id, UNKNOWN, None, ask, client, now_us()))
        return 200, _shaped(kind, answer(UNKNOWN, None, ask, decision_id))

    def log_check(self, terms: LicenseTerms, ask: Ask, body: dict[str, Any], client: str, now: int) -> str:
        """Keep a check (by license id) as a decision too; return its id."""
        decision = body["decision"]
        verdict = Verdict(OK if decision == "allow" else decision, body.get("reason") or "allowed")
        decision_id = decisions.new_decision_id()
        self.decisions.log(decisions.record("check", decision_id, verdict, terms, ask, client, now))
        return decision_id

    def _owner(self, license_id: str) -> str | None:
        """URL of the worker owning the license, or None if it is this one (or no owner is known yet).

        The partition is computed with the pipeline's own partitioner rather than asked of the
        producer (``router.key_store``), which fails until the producer has metadata of the changelog.
        """
        partition = partition_for(license_id.encode(), self.partitions)
        topic = f"{self.app.conf.id}-{STATE_TABLE}-changelog"
        for url, topics in self.app.router.table_metadata(STATE_TABLE).items():
            if partition in topics.get(topic, ()):
                there, here = URL(url), URL(str(self.app.conf.canonical_url))
                return None if (there.host, there.port) == (here.host, here.port) else url
        return None

    async def _forward(self, owner: str, request: web.Request, client: str) -> Answer:
        self.forwarded += 1
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        headers.update({HOP: "1", CLIENT: client})
        url = owner.rstrip("/") + request.path_qs
        async with self.app.http_client.request(request.method, url, headers=headers,
                                                data=await request.read()) as resp:
            return resp.status, await resp.json()

    async def _decide(self, kind: str, terms: LicenseTerms, ask: Ask, client: str,
                      reservation_id: str | None, fields: dict[str, Any]) -> Answer:
        decision_id, now = decisions.new_decision_id(), now_us()
        key = terms.license_id.encode()
        # -- atomic: no await from reading the state to writing it back --
        state = self.states.peek(terms.license_id) or LicenseState()
        verdict = RELEASED if kind == "release" else judge(terms, state, ask, self.catalog, now)
        if kind != "release" and verdict.valid and self.governance is not None:
            verdict = self._policy(verdict, state, terms.license_id, fields, now)
        extra = self._apply(kind, key, verdict, ask, now, decision_id, reservation_id)
        # -- end of the atomic step --
        self.decisions.log(decisions.record(kind, decision_id, verdict, terms, ask, client, now,
                                            extra.get("reservation_id")))
        if kind != "validate":
            await self.app.producer.flush()
        return 200, _shaped(kind, {**answer(verdict, terms, ask, decision_id), **extra})

    def _policy(self, verdict: Verdict, state: LicenseState, license_id: str, fields: dict[str, Any],
                now: int) -> Verdict:
        """``verdict`` unless a blocking policy rule no exception covers refuses the use."""
        assert self.governance is not None
        refused = judge_request(self.governance, state, license_id, fields, now)
        if refused is None:
            return verdict
        policy = {k: refused[k] for k in ("rule_id", "rule_version", "policy_id", "policy_version")}
        return Verdict(refused["decision"], refused["reason"], verdict.remaining, verdict.period,
                       extra={"policy": policy})

    def _apply(self, kind: str, key: bytes, verdict: Verdict, ask: Ask, now: int, decision_id: str,
               reservation_id: str | None) -> dict[str, Any]:
        """Write what the decision changes (a new machine, a reservation opened or released)."""
        extra: dict[str, Any] = {}
        reserve = kind == "reserve" and verdict.valid
        if not (verdict.new_hardware or reserve or kind == "release"):
            return extra
        state = self.states.load(key) or LicenseState()
        reservations.expire(state, now)
        if verdict.new_hardware and ask.hardware_id:
            state.hw.setdefault(verdict.new_hardware, []).append(ask.hardware_id)
        if reserve and ask.metric:
            expires = now + int(ask.ttl_s * 1_000_000)
            extra = {"reservation_id": reservations.hold(state, ask.metric, ask.quantity, expires, decision_id),
                     "expires_at_us": expires}
        if kind == "release":
            extra = {"released": reservations.release(state, reservation_id or "") is not None}
        self.states.save(key, state)
        return extra


def _shaped(kind: str, body: dict[str, Any]) -> dict[str, Any]:
    """Every answer of one kind has the same keys, whatever the outcome."""
    if kind == "reserve":
        return {"reservation_id": None, "expires_at_us": None, "policy": None, **body}
    if kind == "release":
        return {"released": False, **body}
    return {"policy": None, **body}  # policy: the rule of a policy refusal (governance)

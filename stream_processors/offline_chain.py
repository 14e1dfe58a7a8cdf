"""Verifies the signed chain of offline usage batches (``producers/protect/offline.py``) as they arrive.

A batch from a license-file deployment carries, in Kafka headers, a link of a
per-license hash chain signed by a machine key that the vendor registered in the
license file's machine certificate. Per license and chain this module keeps the
head (index, hash), a window of recent link hashes and the open gaps, in the
``offline_chains`` table, and judges each link:

* the certificate is not the vendor's, names another license, or the link's signature
  or body hash does not check, or it was signed after the file expired: ``offline_chain_invalid``;
* an index past the head + 1: the batches between were dropped: ``offline_chain_gap``
  (a later arrival of one of them fills the gap silently);
* an index at or below the head and not in a gap: ``offline_chain_replay`` (``info``
  when byte-identical to the link already counted, i.e. a spool re-send; else ``warning``);
* the next index whose ``prev`` is not the head's hash: the chain forked: ``offline_chain_invalid``.

Counting is not this module's business: the batch's events are counted once by the
sequence tracking and the sink's dedup whatever the verdict; the alerts are the evidence.
Batches without chain headers (online producers) are not judged.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Iterable, Mapping

from meterstream.producers.protect import errors as pe
from meterstream.producers.protect.keys import TrustedKeys
from meterstream.producers.protect.license_file import MachineCert
from meterstream.producers.protect.offline import CERT, DOMAIN, GENESIS, LINK, SIG, link_hash

from . import alerts as k

RECENT = 64  # link hashes kept per chain to tell a byte-identical re-send from a replayed old link


def headers_of(raw: Any) -> dict[str, bytes]:
    """Kafka headers (a list of pairs or a mapping, as clients give them) as a dict."""
    if not raw:
        return {}
    pairs: Iterable[tuple[str, Any]] = raw.items() if isinstance(raw, Mapping) else raw
    return {str(n): bytes(v) for n, v in pairs if v is not None}


class ChainVerdict:
    """Alerts of one batch, with what they share."""

    def __init__(self, license_id: str, tenant: str, chain: str, index: int) -> None:
        self.license_id, self.tenant, self.chain, self.index = license_id, tenant, chain, index
        self.alerts: list[dict[str, Any]] = []

    def fire(self, kind: str, message: str, severity: str | None = None, **evidence: Any) -> None:
        self.alerts.append(k.make_alert(self.license_id, kind, message, subject=f"{self.chain}:{self.index}",
                                        evidence={"chain": self.chain, "index": self.index, **evidence},
                                        tenant=self.tenant, severity=severity))


def verify(state: dict[str, Any], license_id: str, headers: Mapping[str, bytes], value: bytes,
           trusted: TrustedKeys, tenant: str = "") -> list[dict[str, Any]]:
    """Judge one batch against ``state`` (updated in place); return its alerts."""
    if LINK not in headers:
        return []
    raw = headers[LINK]
    try:
        link = json.loads(raw)
        chain, index = str(link["chain"]), int(link["i"])
    except (ValueError, KeyError, TypeError):
        link, chain, index = {}, "?", -1
    verdict = ChainVerdict(license_id, tenant, chain, index)
    reason = _authentic(license_id, headers, raw, link, value, trusted)
    if reason is not None:
        verdict.fire(k.OFFLINE_CHAIN_INVALID, f"offline usage batch {index} of chain {chain} refused: {reason}",
                     reason=reason, body_sha256=hashlib.sha256(value).hexdigest())
        return verdict.alerts
    _place(state.setdefault("chains", {}).setdefault(chain, {"i": -1, "h": GENESIS, "recent": {}, "gaps": []}),
           link, link_hash(raw), verdict)
    return verdict.alerts


def _authentic(license_id: str, headers: Mapping[str, bytes], raw: bytes, link: dict[str, Any], value: bytes,
               trusted: TrustedKeys) -> str | None:
    """None if the link is the registered machine's and describes ``value``, else why not."""
    if not link:
        return "chain header does not parse"
    try:
        cert_text, _, cert_sig = headers.get(CERT, b"").decode().partition(".")
        cert = MachineCert.verify(cert_text, cert_sig, trusted)
    except pe.ProtectError as exc:
        return f"machine certificate: {exc}"
    if cert.license_id != license_id:
        return f"machine certificate is for license {cert.license_id}"
    if not _signed(cert.machine_key, headers.get(SIG, b""), DOMAIN + raw):
        return "signature does not match (link altered, or not signed by the registered machine key)"
    if link.get("body") != hashlib.sha256(value).hexdigest():
        return "batch contents changed after signing (body hash differs)"
    if int(link.get("t", 0)) > cert.expires_us:
        return "signed after the license file expired"
    return None


def _signed(public: bytes, sig: bytes, data: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        Ed25519PublicKey.from_public_bytes(public).verify(sig, data)
    except (InvalidSignature, ValueError):
        return False
    return True


def _place(head: dict[str, Any], link: dict[str, Any], h: str, verdict: ChainVerdict) -> None:
    """Move the chain's head (or fill a gap) and fire the gap, replay or fork alert."""
    i, last, recent = int(link["i"]), int(head["i"]), head["recent"]
    gap = next((g for g in head["gaps"] if g[0] <= i <= g[1]), None)
    if gap is not None:
        head["gaps"].remove(gap)
        head["gaps"].extend(g for g in ([gap[0], i - 1], [i + 1, gap[1]]) if g[0] <= g[1])
    elif i <= last:
        same = recent.get(str(i)) == h
        verdict.fire(k.OFFLINE_CHAIN_REPLAY, f"offline usage batch {i} arrived again (head is {last}); "
                     "its events were not counted twice", severity="info" if same else "warning",
                     head=last, identical=same, link_sha256=h)
        return
    elif i > last + 1:
        verdict.fire(k.OFFLINE_CHAIN_GAP, f"offline usage batches {last + 1}..{i - 1} are missing from the "
                     "chain: dropped before upload", missing_from=last + 1, missing_to=i - 1,
                     expected_prev=head["h"], link_prev=link["prev"])
        head["gaps"].append([last + 1, i - 1])
    elif link["prev"] != head["h"]:
        verdict.fire(k.OFFLINE_CHAIN_INVALID, f"offline usage batch {i} does not follow batch {last}: "
                     "the chain forked", reason="previous hash differs", expected_prev=head["h"],
                     link_prev=link["prev"])
    if i > last:
        head["i"], head["h"] = i, h
    recent[str(i)] = h
    for old in sorted(recent, key=int)[:-RECENT]:
        del recent[old]


def trusted_keys(settings: Any) -> TrustedKeys:
    """The vendor public keys of ``processor_trusted_keys_dir`` (default ``<data dir>/keys/signing``)."""
    from meterstream.producers.protect.keys import keys_dir

    return TrustedKeys.from_dir(settings.processor_trusted_keys_dir or keys_dir() / "signing")


class OfflineChains:
    """The ``offline_chains`` table (JSON bytes per license) and the vendor keys links are judged with."""

    def __init__(self, table: Any, trusted: TrustedKeys) -> None:
        self.table, self.trusted = table, trusted

    def check(self, key: bytes, headers: Any, value: bytes, offset: int, tenant: str = "") -> tuple[
            list[dict[str, Any]], dict[str, Any] | None]:
        """(alerts, new state to ``save``) of one usage message; no state when nothing is to be saved."""
        hs = headers_of(headers)
        if LINK not in hs:
            return [], None
        raw = self.table.get(key)
        state: dict[str, Any] = json.loads(raw) if raw else {"offset": -1}
        if offset <= state["offset"]:
            return [], None  # redelivered after a crash: judged already
        alerts = verify(state, key.decode(), hs, value, self.trusted, tenant)
        state["offset"] = offset
        return alerts, state

    def save(self, key: bytes, state: dict[str, Any]) -> None:
        self.table[key] = json.dumps(state, separators=(",", ":")).encode()

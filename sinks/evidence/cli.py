"""``meterstream evidence ...``: the signing key, checkpoints, proofs, bundles for auditors, pruning.

Bundles are JSON, checked offline by ``python -m meterstream.sinks.evidence.verify``.
With the embedded engine these commands open the sink's data directory: stop the sink first.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("evidence", help="the evidence log: signing key, checkpoints, proofs, auditor bundles")
    esub = p.add_subparsers(dest="evidence_command", required=True)
    k = esub.add_parser("key", help="create the signing key, or print its verifier key for auditors")
    k.add_argument("action", choices=["generate", "public"])
    k.add_argument("--force", action="store_true", help="replace an existing key (a new identity)")
    k.set_defaults(handler=_key)
    c = esub.add_parser("checkpoint", help="sign a checkpoint of every log that grew since its last one")
    c.set_defaults(handler=_checkpoint)
    pr = esub.add_parser("prove", help="bundle: one event (or alert) with its inclusion proof")
    pr.add_argument("entry_id")
    _out(pr, _prove)
    cs = esub.add_parser("consistency", help="bundle: proof that the checkpoint of size NEW extends that of size OLD")
    cs.add_argument("old", type=int)
    cs.add_argument("new", type=int)
    cs.add_argument("--log", help="<topic>/<partition> (needed when there are several logs)")
    _out(cs, _consistency)
    ex = esub.add_parser("export", help="bundle: one license's events and alerts in [--from, --to) with proofs")
    ex.add_argument("--license", required=True)
    ex.add_argument("--from", dest="start", required=True, help="UTC date/time, inclusive")
    ex.add_argument("--to", dest="end", required=True, help="UTC date/time, exclusive")
    _out(ex, _export)
    pn = esub.add_parser("prune", help="delete leaf hashes of whole tiles older than --before (tile hashes stay)")
    pn.add_argument("--before", required=True, help="UTC date/time")
    pn.set_defaults(handler=_prune)


def _out(p: argparse.ArgumentParser, handler: Any) -> None:
    p.add_argument("--out", "-o", help="write the bundle here (default: stdout)")
    p.set_defaults(handler=handler)


def _settings() -> Any:
    from ..settings import SinkSettings

    return SinkSettings()


def _write(args: argparse.Namespace, bundle: dict[str, Any]) -> int:
    text = json.dumps(bundle, indent=1, sort_keys=True)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text + "\n")
        print(f"wrote {args.out}: {len(bundle['entries'])} entries, {len(bundle['logs'])} log(s)", file=sys.stderr)
    else:
        print(text)
    return 0


def _key(args: argparse.Namespace) -> int:
    from .runtime import load_signer
    from .signing import Signer, generate_key

    s = _settings()
    if args.action == "generate":
        secret = s.evidence_key_passphrase.get_secret_value() if s.evidence_key_passphrase else None
        signer = Signer(generate_key(s.evidence_key_path, secret, force=args.force), s.evidence_origin)
        print(f"signing key written to {s.evidence_key_path} (mode 0600)", file=sys.stderr)
    else:
        signer = load_signer(s)
    print(signer.vkey())
    return 0


def _checkpoint(args: argparse.Namespace) -> int:
    from ..cli import _client
    from .log import Cadence, EvidenceLog
    from .runtime import load_signer
    from .store import LogStore

    s = _settings()
    log = EvidenceLog(LogStore(_client()), load_signer(s), Cadence(s.evidence_checkpoint_events,
                                                                  s.evidence_checkpoint_s), s.evidence_origin)
    for cp in log.checkpoint_all():
        print(f"{cp.origin} size {cp.size}")
    return 0


def _prove(args: argparse.Namespace) -> int:
    from ..cli import _client
    from .export import prove

    return _write(args, prove(_client(), args.entry_id))


def _consistency(args: argparse.Namespace) -> int:
    from ..cli import _client
    from .export import consistency

    return _write(args, consistency(_client(), args.log, args.old, args.new))


def _export(args: argparse.Namespace) -> int:
    from ..cli import _client, _time
    from .export import export

    s = _settings()
    return _write(args, export(_client(), args.license, _time(args.start), _time(args.end),
                               retained_from(s.sink_retention_months)))


def _prune(args: argparse.Namespace) -> int:
    from ..cli import _client, _time
    from .pruning import prune

    for log, tiles in prune(_client(), _time(args.before)).items():
        print(f"{log}: pruned the leaves of {tiles} tiles")
    return 0


def retained_from(months: int) -> Any:
    """The first instant raw events are kept from under ``sink_retention_months`` (None: all kept)."""
    from datetime import datetime, timezone

    if not months:
        return None
    now = datetime.now(timezone.utc)
    index = now.year * 12 + now.month - 1 - (months - 1)  # the TTL drops a month once it is `months` old
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=timezone.utc)

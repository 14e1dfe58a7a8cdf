"""Commands of model protection.

Vendor side, added to ``meterstream license``: ``keygen``, ``rotate-signing-key``,
``retire-signing-key``, ``signing-keys``, ``export`` and ``detect``; to ``meterstream model``:
``encrypt``. Customer side, ``meterstream protect``: ``fingerprint``, ``machine-key``,
``trust``, ``verify``, ``attest``. They need the protect extra and say so when it is missing.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from .errors import ProtectError

LICENSE_ACTIONS = ("keygen", "rotate-signing-key", "retire-signing-key", "signing-keys", "export", "detect")
TTL = re.compile(r"^(\d+)([smhd])$")


def parse_ttl(text: str) -> int:
    """``30d``, ``12h``, ``90m``, ``3600s`` -> seconds."""
    m = TTL.match(text)
    if not m or int(m.group(1)) == 0:
        raise ProtectError(f"ttl must look like 30d, 12h, 90m or 3600s, got {text!r}")
    return int(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


def add_license_commands(actions: Any) -> None:
    actions.add_parser("keygen", help="generate the vendor's Ed25519 signing key (made current)")
    actions.add_parser("rotate-signing-key", help="new current signing key; files signed before stay valid")
    r = actions.add_parser("retire-signing-key", help="delete a signing key: files it signed are refused")
    r.add_argument("kid")
    actions.add_parser("signing-keys", help="the public key lines to give customers (trusted keys)")
    x = actions.add_parser("export", help="write a signed, encrypted license file for offline machines")
    x.add_argument("license_id")
    x.add_argument("--machine", help="bind to this machine fingerprint (meterstream protect fingerprint)")
    x.add_argument("--machine-key", help="the machine's offline-usage public key line (protect machine-key)")
    x.add_argument("--ttl", default="30d", help="how long the file is valid (30d, 12h...), apart from the license")
    x.add_argument("--out", type=Path, help="file to write (default: stdout)")
    d = actions.add_parser("detect", help="which license's watermark a generated text carries")
    d.add_argument("tokens", type=Path, help="JSON list of the text's token ids")
    d.add_argument("--vocab-size", type=int, required=True)
    d.add_argument("--license", action="append", required=True, dest="candidates", help="candidate license id")


def license_action(args: argparse.Namespace) -> int:
    from .keys import VendorKeys

    vendor, action = VendorKeys(), args.license_action
    if action in ("keygen", "rotate-signing-key"):
        print(f"signing key {vendor.generate()} is current; private key in {vendor.dir} (0600)")
    elif action == "retire-signing-key":
        vendor.retire(args.kid)
        print(f"signing key {args.kid} retired")
    elif action == "signing-keys":
        for p in sorted(vendor.dir.glob("*.pub")):
            print(p.read_text().strip())
    elif action == "export":
        return _export(args, vendor)
    else:
        return _detect(args, vendor)
    return 0


def _export(args: argparse.Namespace, vendor: Any) -> int:
    from meterstream.stream_processors.license.admin import LicenseAdmin

    from .export import export_license_file
    from .keys import parse_public_line

    with LicenseAdmin() as admin:
        terms = admin.get(args.license_id)
    machine_key = parse_public_line(args.machine_key)[1] if args.machine_key else None
    text = export_license_file(terms, vendor, ttl_s=parse_ttl(args.ttl), machine=args.machine or "",
                               machine_key=machine_key)
    if args.out:
        args.out.write_text(text)
        print(f"license file of {args.license_id} written to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _detect(args: argparse.Namespace, vendor: Any) -> int:
    from .kdf import watermark_key
    from .watermark import detect

    tokens = json.loads(args.tokens.read_text())
    master = vendor.master()
    found = detect(tokens, {lic: watermark_key(master, lic) for lic in args.candidates}, args.vocab_size)
    for d in found:
        mark = "WATERMARKED" if d.watermarked else "-"
        print(f"{d.license_id}\tz={d.z:.2f}\tp={d.p_value:.2e}\tgreen={d.green}/{d.scored}\t{mark}")
    return 0


def add_model_commands(actions: Any) -> None:
    e = actions.add_parser("encrypt", help="encrypt a safetensors file for licensed machines only")
    e.add_argument("src", type=Path)
    e.add_argument("dst", type=Path)
    e.add_argument("--model", required=True)
    e.add_argument("--version", required=True)
    e.add_argument("--license", default="", help="only this license's file can decrypt it (default: any license "
                                                 "allowed the model version)")


def model_encrypt(args: argparse.Namespace) -> int:
    from .export import remember_encrypted
    from .kdf import weights_key
    from .keys import VendorKeys
    from .weights import encrypt_weights

    vendor = VendorKeys()
    key = weights_key(vendor.master(), args.model, args.version, args.license)
    header = encrypt_weights(args.src, args.dst, key, model=args.model, version=args.version,
                             license_id=args.license)
    remember_encrypted(vendor, args.model, args.version, args.license)
    print(f"{args.dst}: {header['key_id']}, {header['plain_size']} bytes; license files exported from now on "
          f"carry its key")
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("protect", help="this machine's fingerprint, offline-usage key, license file and attestation")
    actions = p.add_subparsers(dest="protect_action", required=True)
    actions.add_parser("fingerprint", help="print this machine's fingerprint and its components")
    actions.add_parser("machine-key", help="create (once) and print this machine's offline-usage public key")
    t = actions.add_parser("trust", help="trust a vendor public key line (file or text)")
    t.add_argument("public_key")
    v = actions.add_parser("verify", help="verify a license file here, offline ($METERSTREAM_LICENSE_KEY)")
    v.add_argument("license_file", type=Path)
    v.add_argument("--model")
    v.add_argument("--version", default="")
    actions.add_parser("attest", help="what hardware attestation can prove on this machine")
    p.set_defaults(handler=_protect)


def _protect(args: argparse.Namespace) -> int:
    from . import attestation, fingerprint, keys

    action = args.protect_action
    if action == "fingerprint":
        fp = fingerprint.read_fingerprint()
        print(fp.id)
        print(fp.canonical, end="")
    elif action == "machine-key":
        print(keys.public_line(keys.public_bytes(keys.machine_key())))
    elif action == "trust":
        text = Path(args.public_key).read_text() if os.path.exists(args.public_key) else args.public_key
        kid, _ = keys.parse_public_line(text.strip())
        (keys.keys_dir() / "trusted").mkdir(parents=True, exist_ok=True)
        (keys.keys_dir() / "trusted" / f"{kid}.pub").write_text(text.strip() + "\n")
        print(f"trusting vendor key {kid}")
    elif action == "verify":
        return _verify(args)
    else:
        claims = attestation.attest()
        print(json.dumps({"available": claims.available, "verified": claims.verified, "reason": claims.reason}))
    return 0


def _verify(args: argparse.Namespace) -> int:
    from .verified import open_license_file
    from .weights import env_license_key

    key = env_license_key()
    if not key:
        raise ProtectError("set METERSTREAM_LICENSE_KEY to the license key")
    lic = open_license_file(args.license_file, key)
    if args.model:
        lic.check_use(args.model, args.version)
    print(json.dumps({"license_id": lic.license_id, "tier": lic.terms.tier, "flags": lic.flags,
                      "file_expires_us": lic.expires_us, "machine": lic.fingerprint or None,
                      "weights_keys": sorted(lic.weights_keys)}, indent=2))
    return 0

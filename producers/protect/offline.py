"""Signed offline usage: every spooled batch is a link of a per-license hash chain, signed by this machine.

A license-file deployment meters into its spool while offline for days and uploads
when Kafka answers (the flusher's replay). So that the vendor can trust what arrives,
each batch travels with three Kafka headers (the sink ignores headers; the processor
reads them, ``stream_processors/offline_chain.py``):

* ``ms-chain``: canonical JSON ``{"v", "chain", "i", "prev", "body", "t"}``: the chain id
  (one per spool directory, which one process owns), the link's index per license, the
  previous link's hash, the SHA-256 of the message value and the signing time;
* ``ms-chain-sig``: Ed25519 over ``"meterstream-chain/v1|" + ms-chain`` by the machine key;
* ``ms-chain-cert``: the license file's machine certificate and its vendor signature
  (``cert.cert_sig``), registering the machine key for the license.

A link's hash is SHA-256 of the signed bytes, and the next link names it, so a
dropped, altered, reordered or replayed batch shows. The headers are stored with the
batch in the spool, so a replay sends the very same bytes. The chain head per license
is kept in ``chain.json`` in the spool directory, written after each spool append; a
restart takes the highest link found in ``chain.json`` and in the spool itself.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from pathlib import Path
from typing import Any

from .errors import ProtectError
from .keys import machine_key, public_bytes
from .license_file import canonical, dearmor, read_text

LINK, SIG, CERT = "ms-chain", "ms-chain-sig", "ms-chain-cert"
DOMAIN = b"meterstream-chain/v1|"
GENESIS = "0" * 64


def link_hash(link: bytes) -> str:
    return hashlib.sha256(DOMAIN + link).hexdigest()


def machine_cert_header(license_file: str | Path) -> tuple[bytes, bytes]:
    """(``cert.cert_sig`` header value, the machine public key it registers) from a license file."""
    doc = dearmor(read_text(license_file))
    if not doc.get("cert"):
        raise ProtectError("the license file carries no machine certificate: export it with "
                           "`license export --machine FP --machine-key PUBKEY`")
    try:
        cert = json.loads(base64.urlsafe_b64decode(doc["cert"]))
        return f"{doc['cert']}.{doc['cert_sig']}".encode(), base64.b64decode(cert["machine_key"])
    except (KeyError, TypeError, ValueError) as exc:  # binascii.Error is a ValueError
        raise ProtectError(f"the license file's machine certificate is damaged: {exc!r}") from None


class ChainSigner:
    """The per-license chains of one spool directory (the Flusher's ``chain``)."""

    def __init__(self, spool_dir: Path, license_file: str | Path, key_file: Path | None = None,
                 clock: Any = None) -> None:
        from meterstream.clock import now_us

        self.dir = Path(spool_dir)
        self.cert, registered = machine_cert_header(license_file)
        self.key = machine_key(key_file)
        if public_bytes(self.key) != registered:
            raise ProtectError("this machine's offline-usage key is not the one the license file registers "
                               "(`meterstream protect machine-key` prints it)")
        self.clock = clock or now_us
        self.chain_id = self._chain_id()
        self.heads: dict[str, tuple[int, str]] = self._load_heads()
        self._pending: dict[bytes, tuple[int, str]] = {}

    def _chain_id(self) -> str:
        path = self.dir / "chain.id"
        if not path.exists():
            path.write_text(secrets.token_hex(8))
        return path.read_text().strip()

    def _load_heads(self) -> dict[str, tuple[int, str]]:
        path = self.dir / "chain.json"
        heads = {k: (int(v[0]), str(v[1])) for k, v in json.loads(path.read_text()).items()} \
            if path.exists() else {}
        for lic, head in self._spooled_heads().items():
            if head[0] > heads.get(lic, (-1, ""))[0]:
                heads[lic] = head
        return heads

    def _spooled_heads(self) -> dict[str, tuple[int, str]]:
        """The highest link of each license still in the spool (written after chain.json was)."""
        from ..spool import SUFFIX, ScanStats, scan

        found: dict[str, tuple[int, str]] = {}
        for path in sorted(self.dir.glob(f"*{SUFFIX}")):
            for rec in scan(path.read_bytes(), int(path.stem), ScanStats(), quiet=True):
                link = dict(rec.headers).get(LINK)
                if link is not None and json.loads(link)["i"] > found.get(rec.key.decode(), (-1, ""))[0]:
                    found[rec.key.decode()] = (json.loads(link)["i"], link_hash(link))
        return found

    def link(self, key: bytes, value: bytes) -> list[tuple[str, bytes]]:
        """The headers of the next link of ``key``'s chain (kept pending until ``commit``)."""
        index, prev = self.heads.get(key.decode(), (-1, GENESIS))
        link = canonical({"v": 1, "chain": self.chain_id, "i": index + 1, "prev": prev,
                          "body": hashlib.sha256(value).hexdigest(), "t": self.clock()})
        self._pending[key] = (index + 1, link_hash(link))
        return [(LINK, link), (SIG, self.key.sign(DOMAIN + link)), (CERT, self.cert)]

    def commit(self, key: bytes) -> None:
        """The pending link of ``key`` is in the spool: it is the head now."""
        self.heads[key.decode()] = self._pending.pop(key)
        tmp = self.dir / "chain.json.tmp"
        tmp.write_text(json.dumps({k: list(v) for k, v in self.heads.items()}))
        tmp.replace(self.dir / "chain.json")


def chain_for(settings: Any, spool_dir: Path) -> ChainSigner | None:
    """The chain signer of a Meter whose settings name a license file, else None."""
    if settings.license_file is None:
        return None
    return ChainSigner(spool_dir, settings.license_file, settings.machine_key_file)


def with_machine_identity(settings: Any) -> Any:
    """A license-file deployment's events carry the machine fingerprint as ``hardware_id`` by default."""
    if settings.license_file is None or settings.hardware_id:
        return settings
    from .fingerprint import read_fingerprint

    return settings.model_copy(update={"hardware_id": read_fingerprint().id})

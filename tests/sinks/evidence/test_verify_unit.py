"""The auditor's verifier on its own: RFC 8032 Ed25519, RFC 6962 proofs against the generator, checkpoints."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from meterstream.sinks.evidence import merkle
from meterstream.sinks.evidence.signing import Signer, generate_key, load_key
from meterstream.sinks.evidence.verify import (VerifierKey, consistent, ed25519_verify, leaf_bytes, leaf_hash,
                                               open_checkpoint, root_from_inclusion)

# RFC 8032 section 7.1, tests 1, 2 and 3: (public key, message, signature)
RFC8032 = [
    ("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
    ("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
    ("fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"),
]


@pytest.mark.parametrize("public, message, signature", RFC8032)
def test_ed25519_rfc8032_vectors(public: str, message: str, signature: str) -> None:
    pub, msg, sig = bytes.fromhex(public), bytes.fromhex(message), bytes.fromhex(signature)
    assert ed25519_verify(pub, msg, sig)
    assert not ed25519_verify(pub, msg + b"x", sig)
    assert not ed25519_verify(pub, msg, sig[:63] + bytes([sig[63] ^ 1]))


def test_ed25519_agrees_with_cryptography() -> None:
    for _ in range(20):
        key, msg = Ed25519PrivateKey.generate(), os.urandom(50)
        pub = Signer(key, "k").public
        assert ed25519_verify(pub, msg, key.sign(msg))
        assert not ed25519_verify(pub, msg, Ed25519PrivateKey.generate().sign(msg))
    assert not ed25519_verify(b"\x00" * 31, b"", b"\x00" * 64)


def _leaves(n: int) -> list[bytes]:
    return [leaf_hash(str(i).encode()) for i in range(n)]


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 255, 256, 257, 600, 1025])
def test_tree_state_root_and_proofs(size: int) -> None:
    hashes = _leaves(size)
    state = merkle.TreeState()
    tiles = state.append(hashes[: size // 3]) + state.append(hashes[size // 3:])
    assert state.root() == merkle.mth(hashes) and len(tiles) == size // merkle.TILE
    subtree = lambda lo, hi: merkle.mth(hashes[lo:hi])  # noqa: E731
    for i in {0, size // 2, size - 1}:
        assert root_from_inclusion(i, size, hashes[i], merkle.inclusion_proof(i, size, subtree)) == state.root()
        assert root_from_inclusion(i, size, leaf_hash(b"x"), merkle.inclusion_proof(i, size, subtree)) != state.root()
    for old in {1, size // 2, size - 1, size} - {0}:
        proof = merkle.consistency_proof(old, size, subtree)
        assert consistent(old, size, merkle.mth(hashes[:old]), state.root(), proof)
        assert not consistent(old, size, leaf_hash(b"forged"), state.root(), proof)


def test_consistency_exhaustive_small() -> None:
    hashes = _leaves(20)
    subtree = lambda lo, hi: merkle.mth(hashes[lo:hi])  # noqa: E731
    for n in range(1, 21):
        for m in range(1, n + 1):
            assert consistent(m, n, merkle.mth(hashes[:m]), merkle.mth(hashes[:n]),
                              merkle.consistency_proof(m, n, subtree)), (m, n)


def test_checkpoint_note_format_and_key(tmp_path: Path) -> None:
    path = tmp_path / "evidence" / "signing.key"
    signer = Signer(generate_key(path), "meterstream.example")
    assert path.stat().st_mode & 0o777 == 0o600
    note = signer.checkpoint("meterstream.example/usage/0", 7, b"\x01" * 32)
    body, sig = note.split("\n\n")
    root_b64 = base64.b64encode(bytes([1]) * 32).decode()
    assert body == f"meterstream.example/usage/0\n7\n{root_b64}"
    assert sig.startswith("\u2014 meterstream.example ") and sig.endswith("\n")
    key = VerifierKey.parse(signer.vkey())
    cp = open_checkpoint(note, key)
    assert (cp.origin, cp.size, cp.root) == ("meterstream.example/usage/0", 7, b"\x01" * 32)
    with pytest.raises(ValueError, match="bad signature"):
        open_checkpoint(note.replace("\n7\n", "\n8\n"), key)
    encrypted = tmp_path / "enc.key"
    generate_key(encrypted, passphrase="pw")
    assert load_key(encrypted, "pw") is not None


def test_leaf_encoding_is_unambiguous() -> None:
    base = {"alert_id": "a", "kind": "k", "severity": "s", "license_id": "l", "tenant": "", "team": "", "metric": "",
            "period": "", "threshold": None, "message": "m", "evidence": {"b": "2", "a": "1"}, "event_id": None,
            "created_at": 5}
    assert leaf_bytes("alert.v1", base).endswith(b"\x01\x01m\x02\x01a\x011\x01b\x012\x01" + (5).to_bytes(8, "little"))
    assert leaf_bytes("alert.v1", {**base, "threshold": 0}) != leaf_bytes("alert.v1", base)
    assert leaf_bytes("alert.v1", {**base, "tenant": "x", "team": ""}) != leaf_bytes("alert.v1", {**base, "team": "x"})


def test_generate_key_ignores_a_stale_world_readable_temp_file(tmp_path: Path) -> None:
    """A ``.tmp`` left by an interrupted run (mode 0644) must not become the key file with its mode."""
    path = tmp_path / "evidence" / "signing.key"
    path.parent.mkdir(mode=0o700)
    stale = path.with_suffix(".tmp")
    stale.write_bytes(b"left over")
    stale.chmod(0o644)
    generate_key(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert not stale.exists()

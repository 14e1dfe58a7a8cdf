"""Encrypted weights: a real safetensors file loads under a valid license, in memory only, and every
way of breaking the license or the file is refused before a tensor comes back."""

from __future__ import annotations

import struct
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from meterstream.clock import now_us
from meterstream.producers.protect import errors as e
from meterstream.producers.protect.export import remember_encrypted
from meterstream.producers.protect.kdf import weights_key
from meterstream.producers.protect.loader import load_protected
from meterstream.producers.protect.weights import MAGIC, encrypt_weights, open_weights
from meterstream.stream_processors.license.terms import grants

from .conftest import KEY, MACHINE, OTHER_MACHINE, Vendor, terms

CHUNK = 4096


@pytest.fixture
def model(tmp_path: Path, vendor: Vendor) -> tuple[Path, dict[str, np.ndarray]]:
    """A real safetensors file (about 40 KB: ten chunks), encrypted as llama@3.1.0."""
    rng = np.random.default_rng(7)
    tensors = {"embed.weight": rng.standard_normal((96, 96)).astype(np.float32),
               "head.bias": np.arange(17, dtype=np.int64), "norm.scale": rng.random(33).astype(np.float16)}
    plain = tmp_path / "model.safetensors"
    save_file(tensors, str(plain))
    out = tmp_path / "model.msw"
    encrypt_weights(plain, out, weights_key(vendor.keys.master(), "llama", "3.1.0"), model="llama",
                    version="3.1.0", chunk_size=CHUNK)
    remember_encrypted(vendor.keys, "llama", "3.1.0", "")
    plain.unlink()
    return out, tensors


def _load(vendor: Vendor, path: Path, text: str, machine: str = MACHINE, **kw: object) -> dict[str, np.ndarray]:
    return load_protected(path, text, license_key=KEY, trusted=vendor.keys.trusted(), fingerprint=machine, **kw)


def test_loads_under_a_valid_license_in_memory_only(vendor: Vendor, model: tuple[Path, dict[str, np.ndarray]],
                                                    tmp_path: Path) -> None:
    path, tensors = model
    before = set(tmp_path.rglob("*"))
    got = _load(vendor, path, vendor.export())
    assert set(got) == set(tensors)
    for name, arr in tensors.items():
        assert got[name].dtype == arr.dtype and np.array_equal(got[name], arr)
    assert set(tmp_path.rglob("*")) == before  # nothing decrypted was written anywhere
    assert b"embed.weight" not in path.read_bytes()  # the safetensors header is encrypted too


def test_refused_under_a_broken_license(vendor: Vendor, model: tuple[Path, dict[str, np.ndarray]]) -> None:
    path, _ = model
    text = vendor.export()
    with pytest.raises(e.WrongMachineError):
        _load(vendor, path, text, machine=OTHER_MACHINE)
    with pytest.raises(e.LicenseFileExpiredError):
        load_protected(path, text, license_key=KEY, trusted=vendor.keys.trusted(), fingerprint=MACHINE,
                       now_us=now_us() + 7200_000_000)
    tampered = text.replace(text.splitlines()[3], text.splitlines()[3][::-1])
    with pytest.raises((e.TamperedLicenseFileError, e.UnknownSigningKeyError)):
        _load(vendor, path, tampered)
    with pytest.raises(e.ModelNotAllowedError, match="version 3.1.0 of llama not allowed"):
        _load(vendor, path, vendor.export(terms(models=grants("llama=major:4"))))


def test_a_file_for_another_license_has_no_key(vendor: Vendor, tmp_path: Path,
                                               model: tuple[Path, dict[str, np.ndarray]]) -> None:
    src = tmp_path / "x.safetensors"
    save_file({"w": np.ones(3, dtype=np.float32)}, str(src))
    scoped = tmp_path / "scoped.msw"
    encrypt_weights(src, scoped, weights_key(vendor.keys.master(), "llama", "3.1.0", "globex"), model="llama",
                    version="3.1.0", license_id="globex")
    remember_encrypted(vendor.keys, "llama", "3.1.0", "globex")
    with pytest.raises(e.NoWeightsKeyError, match="llama@3.1.0/globex"):
        _load(vendor, scoped, vendor.export())
    assert _load(vendor, scoped, vendor.export(terms("globex")))["w"].tolist() == [1, 1, 1]


def _chunks(path: Path) -> tuple[bytes, list[bytes]]:
    """(magic + header, chunk records) of an encrypted file."""
    data = path.read_bytes()
    (n,) = struct.unpack_from("<I", data, len(MAGIC))
    pos = len(MAGIC) + 4 + n
    head, out = data[:pos], []
    while pos < len(data):
        (size,) = struct.unpack_from("<I", data, pos)
        out.append(data[pos:pos + 4 + size])
        pos += 4 + size
    return head, out


@pytest.mark.parametrize("damage, error, match", [
    ("flip", e.WeightsTamperedError, "chunk 3 does not authenticate"),
    ("drop", e.WeightsTamperedError, "chunk 4 does not authenticate"),
    ("swap", e.WeightsTamperedError, "chunk 2 does not authenticate"),
    ("truncate", e.WeightsTruncatedError, "not the final chunk"),
    ("cut", e.WeightsTruncatedError, "truncated inside chunk"),
])
def test_damaged_weights_are_refused(vendor: Vendor, model: tuple[Path, dict[str, np.ndarray]], damage: str,
                                     error: type[Exception], match: str) -> None:
    path, _ = model
    head, chunks = _chunks(path)
    assert len(chunks) >= 6
    if damage == "flip":
        c = bytearray(chunks[3])
        c[100] ^= 0x40
        chunks[3] = bytes(c)
    elif damage == "drop":
        del chunks[4]
    elif damage == "swap":
        chunks[2], chunks[3] = chunks[3], chunks[2]
    elif damage == "truncate":
        chunks = chunks[:-2]
    else:
        chunks[-1] = chunks[-1][:50]
    path.write_bytes(head + b"".join(chunks))
    with pytest.raises(error, match=match):
        _load(vendor, path, vendor.export())


def test_changed_header_is_refused(vendor: Vendor, model: tuple[Path, dict[str, np.ndarray]]) -> None:
    path, _ = model
    data = path.read_bytes().replace(b'"chunk_size":4096', b'"chunk_size":4097')
    path.write_bytes(data)
    with pytest.raises(e.WeightsTamperedError, match="chunk 0"):
        _load(vendor, path, vendor.export())


@pytest.mark.parametrize("header", [b'[1, 2]', b'{"model": "llama"}'])
def test_a_header_that_is_json_but_not_a_weights_header_is_a_clear_error(tmp_path: Path, header: bytes) -> None:
    """Valid JSON of the wrong shape is refused as damaged, not with a KeyError or TypeError."""
    from meterstream.producers.protect.weights import _LEN, read_header

    path = tmp_path / "odd.msw"
    path.write_bytes(MAGIC + _LEN.pack(len(header)) + header)
    with open(path, "rb") as f, pytest.raises(e.WeightsTamperedError, match="header damaged"):
        read_header(f)


def test_decrypt_throughput(vendor: Vendor, tmp_path: Path) -> None:
    """MB/s of decrypting a 16 MiB file in 4 MiB chunks (the default), reported (make bench: 256 MiB)."""
    src, dst = tmp_path / "big.bin", tmp_path / "big.msw"
    src.write_bytes(np.random.default_rng(1).bytes(16 << 20))
    key = weights_key(vendor.keys.master(), "llama", "3.1.0")
    t0 = time.perf_counter()
    encrypt_weights(src, dst, key, model="llama", version="3.1.0")
    enc_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    _, data = open_weights(dst, key)
    dec_s = time.perf_counter() - t0
    assert len(data) == 16 << 20
    print(f"\nweights: encrypt {16 / enc_s:.0f} MB/s, decrypt {16 / dec_s:.0f} MB/s (16 MiB, 4 MiB chunks)")

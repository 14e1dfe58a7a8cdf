"""The protection commands on a data directory of their own, the spool's framing of headers, and the
message a machine without the protect extra gets."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from meterstream import cli
from meterstream.producers.protect import deps
from meterstream.producers.protect.errors import MissingDependencyError
from meterstream.producers.spool import MAGIC2, ScanStats, frame, scan


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("METERSTREAM_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def test_vendor_and_customer_commands(data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["license", "keygen"]) == 0
    assert cli.main(["license", "signing-keys"]) == 0
    public = capsys.readouterr().out.strip().splitlines()[-1]
    assert public.startswith("ed25519 ") and "PRIVATE" not in public
    assert cli.main(["protect", "trust", public]) == 0
    assert len(list((data_dir / "keys" / "trusted").glob("*.pub"))) == 1
    src = tmp_path / "m.safetensors"
    save_file({"w": np.zeros(4, dtype=np.float32)}, str(src))
    assert cli.main(["model", "encrypt", str(src), str(tmp_path / "m.msw"), "--model", "llama",
                     "--version", "3.1.0"]) == 0
    assert json.loads((data_dir / "keys" / "weights.index").read_text()) == [["llama", "3.1.0", ""]]
    assert cli.main(["protect", "attest"]) == 0
    assert "no attestation available" in capsys.readouterr().out
    assert cli.main(["protect", "fingerprint"]) == 0
    assert capsys.readouterr().out.startswith("fp1-")
    assert cli.main(["license", "rotate-signing-key"]) == 0
    assert cli.main(["license", "retire-signing-key", public.split()[1]]) == 0


def test_missing_extra_names_it(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                data_dir: Path) -> None:
    real = importlib.import_module

    def without_crypto(name: str, package: str | None = None) -> object:
        if name.startswith("cryptography"):
            raise ModuleNotFoundError(f"No module named {name!r}", name="cryptography")
        return real(name, package)

    monkeypatch.setattr(deps.importlib, "import_module", without_crypto)
    with pytest.raises(MissingDependencyError, match=r"meterstream\[protect\]"):
        deps.require("cryptography.hazmat.primitives.asymmetric.ed25519")
    assert cli.main(["protect", "machine-key"]) == 1
    assert "pip install 'meterstream[protect]'" in capsys.readouterr().err


def test_spool_records_keep_headers_and_resync_past_damage() -> None:
    headers = [("ms-chain", b'{"i":0}'), ("ms-chain-sig", bytes(range(64)))]
    one, two = frame(b"lic", b"batch-1", headers), frame(b"lic", b"batch-2", headers)
    assert one[:4] == MAGIC2
    damaged = bytearray(one + two)
    damaged[20] ^= 0xFF
    stats = ScanStats()
    found = list(scan(bytes(damaged), 1, stats, quiet=True))
    assert [(r.value, r.headers) for r in found] == [(b"batch-2", headers)] and stats.corrupt_records == 1
    assert [r.headers for r in scan(frame(b"lic", b"plain"), 1, ScanStats())] == [[]]

"""The machine fingerprint: what a license file is bound to and what events carry as ``hardware_id``.

Components, each read the same way every time on one machine:

* ``machine-id``: ``/etc/machine-id`` (else ``/var/lib/dbus/machine-id``): systemd's id, created at install;
* ``gpu``: GPU UUIDs from ``nvidia-smi -L`` where it answers (sorted), else none;
* ``cpu``: the CPU model name from ``/proc/cpuinfo`` (else ``platform.processor()``).

The fingerprint is ``fp1-`` + the first 32 hex digits of the SHA-256 of the
components written as ``name=value`` lines. It is an identifier, not a secret
and not proof: a cloned VM keeps its machine id. Proof is attestation's job
(``attestation.py``).
"""

from __future__ import annotations

import hashlib
import platform
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

MACHINE_ID_FILES = (Path("/etc/machine-id"), Path("/var/lib/dbus/machine-id"))


@dataclass(frozen=True)
class Fingerprint:
    """The components and the id derived from them."""

    machine_id: str
    gpus: tuple[str, ...]
    cpu: str

    @property
    def canonical(self) -> str:
        return f"machine-id={self.machine_id}\ngpu={','.join(self.gpus)}\ncpu={self.cpu}\n"

    @property
    def id(self) -> str:
        return "fp1-" + hashlib.sha256(self.canonical.encode()).hexdigest()[:32]


def _machine_id() -> str:
    for path in MACHINE_ID_FILES:
        try:
            text = path.read_text().strip()
        except OSError:
            continue
        if text:
            return text
    return ""


def gpu_uuids(timeout: float = 5.0) -> tuple[str, ...]:
    """UUIDs of the NVIDIA GPUs ``nvidia-smi -L`` lists; () where there is none or it does not answer."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return ()
    try:
        out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=timeout, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ()
    return tuple(sorted(w.strip("()") for line in out.splitlines() for w in line.split()
                        if w.strip("()").startswith("GPU-")))


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def read_fingerprint() -> Fingerprint:
    """This machine's fingerprint (runs ``nvidia-smi`` once if present; cache the result)."""
    return Fingerprint(_machine_id(), gpu_uuids(), _cpu_model())


def machine_hash(fingerprint_id: str) -> str:
    """What a license file stores of the machine it is bound to (SHA-256, domain-separated)."""
    return hashlib.sha256(b"meterstream-machine/v1/" + fingerprint_id.encode()).hexdigest()

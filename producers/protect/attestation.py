"""Hardware attestation: evidence (a TPM quote, an NVIDIA GPU attestation report) in, verified claims out.

A fingerprint can be copied with the machine (a cloned VM keeps its machine id
and reports the same CPU); only attestation can prove where code runs. It needs
evidence signed by hardware roots of trust and the verifier of the vendor that
made them (a TPM's endorsement key chain and a PCR policy; NVIDIA's attestation
SDK and its certificate chain). None of that is present here, so the shipped
verifier never claims anything: it answers ``available=False`` with the reason.
A deployment that has attestation plugs in its own ``Verifier``; the license
check then requires its claims to name the machine the file is bound to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Evidence:
    """Raw attestation evidence: ``kind`` is ``tpm-quote`` or ``nvidia-gpu``; ``nonce`` the caller's challenge."""

    kind: str
    data: bytes
    nonce: bytes


@dataclass(frozen=True)
class Claims:
    """What a verifier established. ``available`` False means nothing was verified and ``reason`` says why."""

    available: bool
    verified: bool = False
    reason: str = ""
    machine: str = ""  # the fingerprint id the evidence proves, when verified
    details: dict[str, str] = field(default_factory=dict)


class Verifier(Protocol):
    """Turns evidence into claims; must check the nonce so old evidence cannot be replayed."""

    def verify(self, evidence: Evidence | None) -> Claims: ...


class NoAttestation:
    """The verifier used when no attestation service is configured: says so plainly, never pretends."""

    REASON = ("no attestation available: no TPM quote or NVIDIA attestation verifier is configured on this "
              "machine; the license is bound to a fingerprint, which a cloned machine can copy")

    def verify(self, evidence: Evidence | None) -> Claims:
        return Claims(available=False, verified=False, reason=self.REASON)


def attest(verifier: Verifier | None = None, evidence: Evidence | None = None) -> Claims:
    """Claims for this machine from ``verifier`` (default: ``NoAttestation``)."""
    return (verifier or NoAttestation()).verify(evidence)

"""Errors of the evidence log."""

from __future__ import annotations

from meterstream.errors import MeterstreamError


class EvidenceError(MeterstreamError):
    """An evidence command or the log cannot do what was asked (no key, no checkpoint, pruned leaves...)."""

"""Errors of the governance package (all are ``ProcessorError``, hence ``MeterstreamError``)."""

from __future__ import annotations

from ..errors import ProcessorError


class GovernanceError(ProcessorError):
    """Base class of governance errors."""


class InventoryError(GovernanceError):
    """An inventory entry that is not valid, or a lifecycle step that is not allowed."""


class PolicyError(GovernanceError):
    """A policy file or rule that cannot be compiled; the message names the rule and what is wrong."""

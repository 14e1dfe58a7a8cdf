"""The protect extra's packages, imported only when used, so the base install stays importable."""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import MissingDependencyError


def require(module: str) -> ModuleType:
    """Import ``module`` or raise MissingDependencyError naming the extra to install."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] == module.split(".")[0]:
            raise MissingDependencyError(module.split(".")[0]) from None
        raise

"""Packages found from the mapped top-level folders, so a new module can never be left out.

The top-level folders are the architecture (STYLE.md) and install under one name,
``meterstream.<folder>``. Every folder below them is a package, data-only ones
(``sinks/migrations``, ``sinks/queries``) included: setuptools ships their files as
package data (patterns in pyproject.toml) and warns if a folder Python could
import is not listed. All other metadata lives in pyproject.toml.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from setuptools import find_namespace_packages, setup

HERE = Path(__file__).resolve().parent

# Installed package -> folder of the checkout (the only hand-kept part: the fixed top level).
ROOTS = {
    "meterstream": "meterstream",
    "meterstream.schemas": "schemas",
    "meterstream.producers": "producers",
    "meterstream.stream_processors": "stream_processors",
    "meterstream.sinks": "sinks",
    "meterstream.infra": "infra",
}
NOT_PACKAGES = ["__pycache__", "*.__pycache__", "tests", "tests.*", "*.tests", "*.tests.*"]


def _holds_files(folder: Path) -> bool:
    """True if ``folder`` has a file of its own (a folder left holding only ``__pycache__``
    after a branch switch, or only sub-folders, is not worth a package)."""
    return any(entry.is_file() for entry in folder.iterdir())


def discover() -> tuple[list[str], dict[str, str]]:
    """Every package under the mapped folders, and the folder each root maps to."""
    packages = list(ROOTS)
    for root, folder in ROOTS.items():
        for sub in find_namespace_packages(where=str(HERE / folder), exclude=NOT_PACKAGES):
            if _holds_files(HERE / folder / sub.replace(".", "/")):
                packages.append(f"{root}.{sub}")
    return sorted(packages), dict(ROOTS)


# The editable install maps the folders with an import finder (the layout is not
# src/), and setuptools always adds an information-only note telling people to mind
# same-named folders in the working directory: here those folders are the package.
warnings.filterwarnings("ignore", message="Editable installation")

packages, package_dir = discover()
setup(packages=packages, package_dir=package_dir)

"""Faust swaps its own module for a lazy one without __spec__; the CLI must still see the pipeline installed."""

from __future__ import annotations

import faust  # noqa: F401  (imported first, as any test of the processor does)

from meterstream import cli


def test_pipeline_installed_after_faust_was_imported() -> None:
    assert cli.pipeline_installed()

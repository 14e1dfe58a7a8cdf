"""In CI a skipped test fails the run (only torch-dependent tests may skip); checked in a child pytest."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(tmp_path: Path, body: str, ci: bool) -> subprocess.CompletedProcess[str]:
    (tmp_path / "conftest.py").write_text(f"import sys\nsys.path.insert(0, {str(ROOT)!r})\n"
                                          "from tests.conftest import pytest_runtest_makereport  # noqa: F401\n")
    (tmp_path / "test_child.py").write_text(body)
    env = {**os.environ, "CI": "true" if ci else "false"}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)


def test_a_skip_fails_in_ci_but_not_outside(tmp_path: Path) -> None:
    body = "import pytest\n\ndef test_skips():\n    pytest.importorskip('no_such_module_here')\n"
    assert _run(tmp_path, body, ci=True).returncode == 1
    assert _run(tmp_path, body, ci=False).returncode == 0


def test_a_torch_skip_is_allowed_in_ci(tmp_path: Path) -> None:
    body = "import pytest\n\ndef test_skips():\n    pytest.skip(\"could not import 'torch'\")\n"
    assert _run(tmp_path, body, ci=True).returncode == 0

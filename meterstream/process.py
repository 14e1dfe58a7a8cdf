"""Starting and stopping meterstream's own processes (used by the demo and the tests)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Mapping


def spawn(args: list[str], log_file: Path, env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Run ``meterstream <args>`` in a child process, output appended to ``log_file``."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    out = open(log_file, "ab")
    return subprocess.Popen([sys.executable, "-m", "meterstream.cli", *args], stdout=out, stderr=subprocess.STDOUT,
                            env={**os.environ, **(env or {})}, start_new_session=True)


def terminate(proc: subprocess.Popen[bytes], timeout: float = 30.0) -> int:
    """SIGTERM, then SIGKILL if it has not exited within ``timeout``."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def get_json(url: str, timeout: float = 2.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.loads(resp.read())


def wait_http(url: str, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> Any:
    """Poll ``url`` until it answers 2xx with JSON; raise TimeoutError (or if ``proc`` dies)."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            return get_json(url)
        except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError) as exc:
            last = exc
        time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {timeout}s: {last}")

"""meterstream as users get it: sdist and wheel built from a copy of the checkout, the wheel
installed into a fresh virtualenv outside it, producer-only first, then with the pipeline extra.

The rest of the suite runs on an editable install, which reads the checkout's folders and so
hides a module or data file the wheel forgot; these tests do not. Commands run with their
working directory outside the checkout and without PYTHONPATH or METERSTREAM_* settings.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tarfile
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from meterstream.cli import PIPELINE_DEPS, PIPELINE_EXTRA

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
# Checkout folder -> where its files are in the wheel (what setup.py maps, written out again).
MAPPED = {"meterstream": "meterstream", "schemas": "meterstream/schemas", "producers": "meterstream/producers",
          "stream_processors": "meterstream/stream_processors", "sinks": "meterstream/sinks",
          "infra": "meterstream/infra"}
SHIPPED = ("*.py", "*.sql", "*.avsc", "*.csv", "*.yaml", "*.properties", "pom.xml")
NOT_COPIED = shutil.ignore_patterns(".git", ".venv", ".data", ".cache", "build", "dist", "*.egg-info",
                                    "__pycache__", ".mypy_cache", ".pytest_cache", ".benchmarks")
# Subcommands that need the pipeline extra, with arguments that would make them work at once.
PIPELINE_RUNS = [["processor"], ["sink"], ["sql", "SELECT 1"], ["prices", "load", "prices.csv"],
                 ["budgets", "load", "budgets.csv"], ["webhook", "list"], ["webhook", "dispatch"],
                 ["demo", "--events", "1"]]

# Every (nested) subcommand, found from the installed command's own argparse parser.
SUBCOMMANDS = """
import argparse, json
from meterstream.cli import build_parser
def walk(parser, path):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield [*path, name]
                yield from walk(sub, [*path, name])
print(json.dumps(list(walk(build_parser(), []))))
"""
# Every module of the installed package, imported: None, or why it failed.
IMPORT_ALL = """
import importlib, json, pkgutil, traceback
import meterstream
names = ["meterstream"] + [m.name for m in pkgutil.walk_packages(meterstream.__path__, "meterstream.",
                                                                 onerror=lambda name: None)]
outcome = {}
for name in names:
    try:
        importlib.import_module(name)
        outcome[name] = None
    except ModuleNotFoundError as exc:
        outcome[name] = {"missing": exc.name, "error": repr(exc)}
    except Exception:
        outcome[name] = {"missing": None, "error": traceback.format_exc()}
print(json.dumps(outcome))
"""


@dataclass
class Dist:
    wheel: Path
    sdist: Path
    log: str


@dataclass
class Venv:
    """A virtualenv outside the checkout, and how to run its commands."""

    path: Path
    cwd: Path
    env: dict[str, str]

    def run(self, *args: str, env: dict[str, str] | None = None, timeout: float = 120,
            check: bool = True) -> subprocess.CompletedProcess[str]:
        res = subprocess.run(args, cwd=self.cwd, env={**self.env, **(env or {})}, capture_output=True,
                             text=True, timeout=timeout)
        if check:
            assert res.returncode == 0, f"{' '.join(args)} -> {res.returncode}\n{res.stdout[-3000:]}{res.stderr[-3000:]}"
        return res

    def python(self, code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return self.run(str(self.path / "bin" / "python"), "-c", code, env=env)

    def meterstream(self, *args: str, env: dict[str, str] | None = None, timeout: float = 120,
                    check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run(str(self.path / "bin" / "meterstream"), *args, env=env, timeout=timeout, check=check)

    def pip_install(self, requirement: str) -> None:
        self.run(str(self.path / "bin" / "python"), "-m", "pip", "install", "-q", requirement, timeout=600)

    def json(self, code: str) -> object:
        return json.loads(self.python(code).stdout)


def _clean_env(home: Path) -> dict[str, str]:
    """This environment without anything pointing Python or meterstream at the checkout.

    ``XDG_DATA_HOME`` in ``home``: an installed meterstream keeps its data there by default.
    ``PYTHONDONTWRITEBYTECODE`` goes too: distutils warns about it while building.
    """
    drop = {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONDONTWRITEBYTECODE"}
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("METERSTREAM_")}
    env["XDG_DATA_HOME"] = str(home / "xdg-data")
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _the_one(folder: Path, pattern: str) -> Path:
    found = list(folder.glob(pattern))
    assert len(found) == 1, found
    return found[0]


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Dist:
    """sdist and wheel (built from the sdist, as ``python -m build`` does) of a copy of the checkout."""
    work = tmp_path_factory.mktemp("dist")
    shutil.copytree(ROOT, work / "src", ignore=NOT_COPIED)
    res = subprocess.run([sys.executable, "-m", "build", "--outdir", str(work / "out"), str(work / "src")],
                         cwd=work, env=_clean_env(work), capture_output=True, text=True, timeout=600)
    log = res.stdout + res.stderr
    assert res.returncode == 0, log[-5000:]
    return Dist(_the_one(work / "out", "*.whl"), _the_one(work / "out", "*.tar.gz"), log)


@pytest.fixture(scope="module")
def venv(dist: Dist, tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """A fresh virtualenv with the base (producer-only) install of the wheel."""
    home = tmp_path_factory.mktemp("installed")
    subprocess.run([sys.executable, "-m", "venv", str(home / "venv")], cwd=home, check=True, timeout=300)
    v = Venv(home / "venv", home, _clean_env(home))
    v.pip_install(str(dist.wheel))
    return v


@pytest.fixture(scope="module")
def pipeline_venv(venv: Venv, dist: Dist) -> Venv:
    """The same virtualenv, the pipeline extra added."""
    venv.pip_install(f"meterstream[pipeline] @ {dist.wheel.as_uri()}")
    return venv


def _expected_files() -> dict[str, str]:
    """Path in the wheel -> path in the checkout, of every file that must ship."""
    found = {}
    for folder, installed in MAPPED.items():
        for pattern in SHIPPED:
            for path in (ROOT / folder).rglob(pattern):
                rel = path.relative_to(ROOT / folder)
                if "__pycache__" not in rel.parts:
                    found[f"{installed}/{rel.as_posix()}"] = path.relative_to(ROOT).as_posix()
    return found


def _expected_modules() -> set[str]:
    names = {n[:-3].replace("/", ".") for n in _expected_files() if n.endswith(".py")}
    return {n.removesuffix(".__init__") for n in names}


def test_sdist_and_wheel_hold_every_file_and_build_without_warnings(dist: Dist) -> None:
    assert not [ln for ln in dist.log.splitlines() if re.search("warn", ln, re.I)], dist.log[-5000:]
    expected = _expected_files()
    assert "meterstream/sinks/migrations/0001_usage_events.sql" in expected  # the walk itself works
    in_wheel = set(zipfile.ZipFile(dist.wheel).namelist())
    assert sorted(set(expected) - in_wheel) == []
    assert [n for n in in_wheel if "__pycache__" in n or n.endswith(".pyc")] == []
    with tarfile.open(dist.sdist) as tar:
        in_sdist = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    assert sorted(set(expected.values()) - in_sdist) == []


def _installed_at(venv: Venv) -> Path:
    where = Path(venv.python("import meterstream; print(meterstream.__file__)").stdout.strip()).parent
    assert where.is_relative_to(venv.path) and not where.is_relative_to(ROOT)
    return where


def _check_every_help(venv: Venv) -> set[str]:
    """``--help`` of the command and of every subcommand works; returns the top-level subcommands."""
    paths = venv.json(SUBCOMMANDS)
    assert isinstance(paths, list) and paths
    venv.meterstream("--help")
    for path in paths:
        res = venv.meterstream(*path, "--help")
        assert res.stdout.startswith(f"usage: meterstream {' '.join(path)}"), res.stdout
    return {path[0] for path in paths}


def _check_imports(venv: Venv, pipeline: bool) -> None:
    """Every module imports; on the base install only for want of a pipeline dependency."""
    outcome = venv.json(IMPORT_ALL)
    assert isinstance(outcome, dict)
    failed = {name: why for name, why in outcome.items() if why is not None}
    if pipeline:
        assert failed == {}
        assert set(outcome) == _expected_modules()  # the walk saw every module
        return
    not_for_want_of_pipeline = {n: why["error"] for n, why in failed.items()
                                if (why["missing"] or "").split(".")[0] not in PIPELINE_DEPS}
    assert not_for_want_of_pipeline == {}
    producer_library = [n for n in outcome if n.startswith(("meterstream.producers", "meterstream.schemas"))]
    assert producer_library and not [n for n in producer_library if n in failed]


def _check_pipeline_commands_say_what_to_install(venv: Venv) -> None:
    assert PIPELINE_EXTRA in venv.meterstream("--help").stdout
    nowhere = {"METERSTREAM_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9", "METERSTREAM_DATA_DIR": str(venv.cwd / "data")}
    for args in PIPELINE_RUNS:
        res = venv.meterstream(*args, env=nowhere, timeout=60, check=False)
        said = res.stdout + res.stderr
        assert res.returncode != 0 and PIPELINE_EXTRA in res.stderr, (args, said)
        assert "Traceback" not in said and "invalid choice" not in said, (args, said)


def _check_base_commands_work(venv: Venv) -> None:
    assert venv.python("from meterstream.cli import pipeline_installed; print(pipeline_installed())"
                       ).stdout.strip() == "False"
    assert "[producer]" in venv.meterstream("check-config").stdout
    (venv.cwd / "empty-spool").mkdir()
    assert "0 records" in venv.meterstream("spool", str(venv.cwd / "empty-spool")).stdout


def _check_data_dir_outside_checkout(venv: Venv) -> None:
    code = "from meterstream.config import default_data_dir as d, project_root as r; print(r(), d())"
    assert venv.python(code).stdout.split() == ["None", str(venv.cwd / "xdg-data" / "meterstream")]
    explicit = str(venv.cwd / "explicit")
    assert venv.python(code, env={"METERSTREAM_DATA_DIR": explicit}).stdout.split() == ["None", explicit]


def _check_kafka_fetch(venv: Venv, installed: Path) -> None:
    """The broker's pom and log config come from the installed package; its jars go to the user's data dir."""
    files = venv.json("import json; from meterstream.infra.kafka import broker as b; "
                      "print(json.dumps([str(b.pom_file()), str(b.log4j_config()), str(b.LocalKafka().home)]))")
    assert isinstance(files, list)
    pom, log4j, home = map(Path, files)
    assert pom == installed / "infra" / "kafka" / "pom.xml" and pom.is_file()
    assert log4j == installed / "infra" / "kafka" / "log4j2.yaml" and log4j.is_file()
    assert home.is_relative_to(venv.cwd / "xdg-data" / "meterstream")
    lib = Path(venv.meterstream("kafka", "fetch", timeout=300).stdout.strip().splitlines()[-1])
    assert lib.is_relative_to(home) and list(lib.glob("kafka_2.13-*.jar"))
    assert sorted(p.name for p in pom.parent.iterdir() if p.name != "__pycache__") == [
        "__init__.py", "__main__.py", "broker.py", "log4j2.yaml", "pom.xml"]  # Maven wrote nothing there


def test_installed_wheel_base_then_pipeline(venv: Venv, request: pytest.FixtureRequest) -> None:
    installed = _installed_at(venv)
    base_commands = _check_every_help(venv)
    _check_imports(venv, pipeline=False)
    _check_pipeline_commands_say_what_to_install(venv)
    _check_base_commands_work(venv)
    _check_data_dir_outside_checkout(venv)
    _check_kafka_fetch(venv, installed)

    pipeline: Venv = request.getfixturevalue("pipeline_venv")
    assert _check_every_help(pipeline) == base_commands  # the base install listed them all
    _check_imports(pipeline, pipeline=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.integration
def test_demo_from_the_wheel(pipeline_venv: Venv, kafka_bootstrap: str, tmp_path: Path) -> None:
    """``meterstream demo`` of the installed wheel: broker of the session, embedded ClickHouse in tmp."""
    prefix = f"w{uuid.uuid4().hex[:10]}."
    env = {"METERSTREAM_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "METERSTREAM_TOPIC_PREFIX": prefix,
           "METERSTREAM_PROCESSOR_APP_ID": f"{prefix}processor", "METERSTREAM_SINK_GROUP": f"{prefix}sink",
           "METERSTREAM_DATA_DIR": str(tmp_path / "data"), "METERSTREAM_PROCESSOR_WEB_PORT": str(_free_port())}
    res = pipeline_venv.meterstream("demo", "--events", "2000", "--licenses", "10", env=env, timeout=480,
                                    check=False)
    said = res.stdout + res.stderr
    log = tmp_path / "data" / "logs" / "processor.log"
    assert res.returncode == 0, said[-4000:] + (log.read_text()[-4000:] if log.exists() else "")
    assert "OK: every event counted once" in res.stdout
    assert not re.search(r"[Ss]etuptools|pkg_resources", said), said[-4000:]  # `make run` shows this output
    assert (tmp_path / "data" / "clickhouse").is_dir()
    reports = list((tmp_path / "data" / "reports").glob("*/report-*.html"))  # the demo ends with the report
    assert len(reports) == 1 and f"report (" in res.stdout and str(reports[0]) in res.stdout
    assert "<svg" in reports[0].read_text() and "lic-0000" in reports[0].read_text()

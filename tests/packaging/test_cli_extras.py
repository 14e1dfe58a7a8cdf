"""The ``meterstream`` command on an install without the pipeline extra: every subcommand is
recognised and says what to install (the installed wheel is tested in test_wheel.py)."""

from __future__ import annotations

import argparse
import importlib
from types import ModuleType

import pytest

from meterstream import cli
from meterstream.stream_processors import cli as processor_cli


def _registered(module_name: str) -> set[str]:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    importlib.import_module(module_name).register(sub)
    return set(sub.choices)


@pytest.mark.parametrize("module_name", sorted(cli.COMMAND_MODULES))
def test_declared_subcommands_are_the_registered_ones(module_name: str) -> None:
    """The names cli.py stands in with must be exactly what the module registers."""
    assert set(cli.COMMAND_MODULES[module_name]) == _registered(module_name)


def test_subcommand_of_a_module_that_cannot_import_says_which_extra(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    real = cli.optional_module

    def without_sinks(name: str) -> ModuleType | None:
        return None if name == "meterstream.sinks.cli" else real(name)

    monkeypatch.setattr(cli, "optional_module", without_sinks)
    assert cli.main(["sql", "--query", "audit_events", "-p", "x=1"]) == 2
    assert cli.PIPELINE_EXTRA in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["sink", "--help"])
    assert exit_info.value.code == 0
    assert cli.PIPELINE_EXTRA in capsys.readouterr().out


def test_handler_missing_a_pipeline_dependency_says_which_extra(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def needs_faust(args: argparse.Namespace) -> int:
        raise ModuleNotFoundError("No module named 'faust'", name="faust")

    monkeypatch.setattr(processor_cli, "_processor", needs_faust)
    assert cli.main(["processor"]) == 2
    err = capsys.readouterr().err
    assert "meterstream processor" in err and "faust" in err and cli.PIPELINE_EXTRA in err


def test_handler_missing_another_module_is_a_bug_and_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    def needs_typo(args: argparse.Namespace) -> int:
        raise ModuleNotFoundError("No module named 'meterstream.nope'", name="meterstream.nope")

    monkeypatch.setattr(processor_cli, "_processor", needs_typo)
    with pytest.raises(ModuleNotFoundError):
        cli.main(["processor"])


def test_unknown_arguments_of_a_real_subcommand_are_still_refused() -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["check-config", "--no-such-option"])
    assert exit_info.value.code == 2

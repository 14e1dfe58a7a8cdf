"""``meterstream otlp`` is registered like the other subcommands and names its extra when one is missing."""

from __future__ import annotations

import argparse

import pytest

from meterstream import cli
from meterstream.producers.otlp import cli as otlp_cli


def test_missing_protobuf_names_the_otlp_extra(monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    def needs_proto(args: argparse.Namespace) -> int:
        raise ModuleNotFoundError("No module named 'opentelemetry.proto'", name="opentelemetry.proto")

    monkeypatch.setattr(otlp_cli, "_otlp", needs_proto)
    assert cli.main(["otlp", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "meterstream otlp: needs the otlp extra" in err and "pip install 'meterstream[otlp]'" in err

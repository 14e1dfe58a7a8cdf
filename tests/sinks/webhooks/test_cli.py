"""``meterstream webhook``: endpoints managed from the command line; secrets shown once, never listed."""

from __future__ import annotations

import json
import re

import pytest

from meterstream.cli import main
from meterstream.sinks.webhooks.verify import verify

from .conftest import Receiver
from .helpers import env

pytestmark = pytest.mark.integration


def test_add_list_rotate_test_disable_enable_remove(kafka_bootstrap: str, prefix: str, receiver: Receiver,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    for k, v in env(kafka_bootstrap, prefix, [0.2]).items():
        monkeypatch.setenv(k, v)

    def run(*args: str) -> tuple[int, str]:
        code = main(["webhook", *args])
        return code, capsys.readouterr().out

    code, out = run("add", receiver.url(), "--license", "lic-1", "--kind", "threshold", "--description", "ops")
    assert code == 0
    endpoint_id = re.search(r"endpoint (ep_\w+)", out).group(1)  # type: ignore[union-attr]
    secret = re.search(r"(whsec_\S+)", out).group(1)  # type: ignore[union-attr]

    code, out = run("list", "--json")
    rows = json.loads(out)
    assert code == 0 and [r["endpoint_id"] for r in rows] == [endpoint_id]
    assert rows[0]["license_ids"] == ["lic-1"] and rows[0]["live_secrets"] == 1
    assert "whsec_" not in out and "ciphertext" not in out

    code, out = run("rotate-secret", endpoint_id)
    new_secret = re.search(r"(whsec_\S+)", out).group(1)  # type: ignore[union-attr]
    assert code == 0 and new_secret != secret
    code, out = run("list")
    assert "whsec_" not in out and "secrets=2" in out

    code, out = run("test", endpoint_id)
    assert code == 0 and "HTTP 200" in out
    req = receiver.on("/hook")[-1]
    assert req.json()["type"] == "webhook.test"
    assert verify(secret, req.headers, req.body) == verify(new_secret, req.headers, req.body)

    assert run("disable", endpoint_id)[0] == 0
    assert "DISABLED (by operator)" in run("list")[1]
    assert run("enable", endpoint_id)[0] == 0
    assert "enabled" in run("list")[1]
    assert run("remove", endpoint_id)[0] == 0
    assert run("list")[1].strip() == "no endpoints"
    assert main(["webhook", "disable", endpoint_id]) == 1
    assert "no webhook endpoint" in capsys.readouterr().err


def test_commands_that_need_the_master_key_say_so(kafka_bootstrap: str, prefix: str,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    for k, v in env(kafka_bootstrap, prefix, [0.2]).items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("METERSTREAM_WEBHOOK_MASTER_KEY")
    assert main(["webhook", "add", "http://127.0.0.1:1/x"]) == 1
    assert "METERSTREAM_WEBHOOK_MASTER_KEY is not set" in capsys.readouterr().err
    monkeypatch.setenv("METERSTREAM_WEBHOOK_MASTER_KEY", "not-a-key")
    assert main(["webhook", "add", "http://127.0.0.1:1/x"]) == 1
    assert "not a Fernet key" in capsys.readouterr().err
    assert main(["webhook", "gen-master-key"]) == 0
    assert len(capsys.readouterr().out.strip()) == 44

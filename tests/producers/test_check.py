"""The quota pre-check against a small local server speaking the contract."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.parse
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import pytest

from meterstream.producers.check import QuotaClient, parse_answer
from meterstream.producers.settings import ProducerSettings


class QuotaStub:
    """Answers per license: a JSON document, an HTTP status, or a delay; records every request."""

    def __init__(self) -> None:
        self.answers: dict[str, Any] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                url = urllib.parse.urlsplit(self.path)
                parts = url.path.split("/")  # ['', 'v1', 'licenses', id, 'check']
                lic = urllib.parse.unquote(parts[3])
                stub.requests.append((lic, dict(urllib.parse.parse_qsl(url.query))))
                answer = stub.answers.get(lic, 404)
                if isinstance(answer, float):
                    time.sleep(answer)
                    answer = {"decision": "allow"}
                status, body = (answer, b"{}") if isinstance(answer, int) else (200, json.dumps(
                    {"license_id": lic, "reason": None, "metric": "inferences", "remaining": None,
                     "period": "2026-11", **answer}).encode())
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client gave up (timeout test)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def stub() -> Iterator[QuotaStub]:
    s = QuotaStub()
    yield s
    s.server.shutdown()


def client(url: str | None, **kw: Any) -> QuotaClient:
    return QuotaClient(ProducerSettings(quota_url=url, **kw))


def test_allow_with_remaining_then_served_from_cache(stub: QuotaStub) -> None:
    stub.answers["lic-1"] = {"decision": "allow", "remaining": "100.5"}
    c = client(stub.url, check_cache_ttl_ms=60_000)
    first = c.check("lic-1", "chat", Decimal(10), "output_tokens", "llama-3", "3.1")
    assert (first.decision, first.allowed, first.remaining, first.source) == ("allow", True, Decimal("100.5"),
                                                                             "service")
    assert stub.requests == [("lic-1", {"metric": "output_tokens", "quantity": "10", "feature": "chat",
                                        "model": "llama-3", "model_version": "3.1"})]
    again = c.check("lic-1", "chat", Decimal(50), "output_tokens", "llama-3", "3.1")
    assert again.source == "cache" and again.allowed and len(stub.requests) == 1
    # More than the cached allowance covers: ask the service again.
    c.check("lic-1", "chat", Decimal(500), "output_tokens", "llama-3", "3.1")
    assert len(stub.requests) == 2


def test_cache_expires(stub: QuotaStub) -> None:
    stub.answers["lic-1"] = {"decision": "allow"}
    c = client(stub.url, check_cache_ttl_ms=50)
    c.check("lic-1", "chat", Decimal(1))
    time.sleep(0.1)
    assert c.check("lic-1", "chat", Decimal(1)).source == "service"
    assert len(stub.requests) == 2


@pytest.mark.parametrize(("answer", "decision", "allowed"), [
    ({"decision": "soft_exceeded", "reason": "80% used", "remaining": "3"}, "soft_exceeded", True),
    ({"decision": "quota_exceeded", "reason": "monthly quota used", "remaining": "0"}, "quota_exceeded", False),
    ({"decision": "license_invalid", "reason": "expired"}, "license_invalid", False),
])
def test_decisions(stub: QuotaStub, answer: dict[str, Any], decision: str, allowed: bool) -> None:
    stub.answers["lic-1"] = answer
    r = client(stub.url).check("lic-1", "chat", Decimal(1))
    assert (r.decision, r.allowed, r.reason) == (decision, allowed, answer["reason"])


def test_unknown_license_is_invalid(stub: QuotaStub) -> None:
    r = client(stub.url).check("nobody", "chat", Decimal(1))
    assert (r.decision, r.allowed, r.reason) == ("license_invalid", False, "unknown license")


@pytest.mark.parametrize("fail_open", [True, False])
@pytest.mark.parametrize("answer", [500, 0.5, {"decision": "maybe"}], ids=["http-500", "timeout", "bad-decision"])
def test_unavailable_follows_the_fail_open_setting(stub: QuotaStub, answer: Any, fail_open: bool) -> None:
    stub.answers["lic-1"] = answer
    started = time.monotonic()
    r = client(stub.url, check_timeout_ms=100, check_fail_open=fail_open).check("lic-1", "chat", Decimal(1))
    assert (r.decision, r.allowed, r.source) == ("unavailable", fail_open, "unavailable")
    assert r.reason
    assert time.monotonic() - started < 0.45  # the timeout, not the server's delay, bounded the wait


def test_no_service_configured_or_unreachable() -> None:
    r = client(None, check_fail_open=False).check("lic-1", "chat", Decimal(1))
    assert (r.decision, r.allowed, r.source) == ("unavailable", False, "unavailable")
    assert "quota_url" in (r.reason or "")
    r = client("http://127.0.0.1:1").check("lic-1", "chat", Decimal(1))
    assert (r.decision, r.allowed) == ("unavailable", True) and "unreachable" in (r.reason or "")


def test_async_check_does_not_block_the_loop(stub: QuotaStub) -> None:
    stub.answers["lic-1"] = 0.15  # a slow (but in-time) answer
    c = client(stub.url, check_timeout_ms=1000)

    async def main() -> tuple[Any, int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1
        t = asyncio.create_task(ticker())
        r = await c.acheck("lic-1", "chat", Decimal(1))
        t.cancel()
        return r, ticks
    result, ticks = asyncio.run(main())
    assert result.decision == "allow" and ticks >= 5


def test_meter_check_uses_the_settings(offline_meter, stub: QuotaStub) -> None:
    stub.answers["lic-9"] = {"decision": "quota_exceeded", "reason": "used up", "remaining": "0"}
    meter = offline_meter(model="m", quota_url=stub.url)
    r = meter.check("lic-9", "chat", 2, metric="images", model="sdxl")
    assert (r.decision, r.allowed, r.remaining) == ("quota_exceeded", False, Decimal(0))
    assert stub.requests[0][1] == {"metric": "images", "quantity": "2", "feature": "chat", "model": "sdxl",
                                    "source": "library"}
    assert asyncio.run(meter.acheck("lic-9", "chat", 2, metric="images", model="sdxl")).source == "cache"
    from meterstream.producers import InvalidEventError

    with pytest.raises(InvalidEventError, match="quantity"):
        meter.check("lic-9", "chat", "lots")
    meter.check("lic-9", "chat", Decimal("1.5"), metric="gpu_seconds")
    assert stub.requests[-1][1]["quantity"] == "1.5"


def test_meter_check_sends_the_governance_context_like_validate(offline_meter, stub: QuotaStub) -> None:
    """The policy's blocking rules judge a check on the same context as a validate: the call's, else the
    Meter's defaults; a context that differs is not answered from another context's cached decision."""
    stub.answers["lic-9"] = {"decision": "allow"}
    meter = offline_meter(team="search", use_case="uc-support", data_categories=["pii"], quota_url=stub.url)
    meter.check("lic-9", "chat", user_id="u-1")
    assert stub.requests[-1][1] == {"metric": "inferences", "quantity": "1", "feature": "chat", "team": "search",
                                    "use_case": "uc-support", "user_id": "u-1", "data_categories": "pii",
                                    "source": "library"}
    meter.check("lic-9", "chat", use_case="uc-legal", data_categories=["pii", "health"])
    assert len(stub.requests) == 2
    assert (stub.requests[-1][1]["use_case"], stub.requests[-1][1]["data_categories"]) == ("uc-legal", "health,pii")
    assert meter.check("lic-9", "chat", user_id="u-1").source == "cache"
    from meterstream.producers import InvalidEventError

    with pytest.raises(TypeError, match="colour"):
        meter.check("lic-9", "chat", colour="red")
    with pytest.raises(InvalidEventError, match="use_case"):
        meter.check("lic-9", "chat", use_case="x" * 10_000)


def test_parse_answer_rejects_garbage() -> None:
    from meterstream.producers.check import QuotaUnavailable

    for status, body in [(200, b"not json"), (200, b'{"no": "decision"}'), (200, b'{"decision": "allow", '
                                                                                  b'"remaining": "x"}'), (503, b"")]:
        with pytest.raises(QuotaUnavailable):
            parse_answer(status, body)

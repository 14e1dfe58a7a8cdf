"""The receiver's helper: Standard Webhooks signatures, rotation, tolerance (unit tests, stdlib only)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from meterstream.sinks.webhooks.verify import (WebhookVerificationError, generate_secret, sign_headers,
                                               signature, verify)

# The reference vector published with the Standard Webhooks specification.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID, SPEC_TS, SPEC_BODY = "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}'
SPEC_SIG = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_signature_matches_the_specification_vector() -> None:
    assert signature(SPEC_SECRET, SPEC_ID, SPEC_TS, SPEC_BODY) == SPEC_SIG
    headers = {"Webhook-Id": SPEC_ID, "Webhook-Timestamp": str(SPEC_TS), "Webhook-Signature": SPEC_SIG}
    assert verify(SPEC_SECRET, headers, SPEC_BODY, now=SPEC_TS + 10) == SPEC_ID


def test_tampered_body_wrong_secret_and_missing_headers_are_refused() -> None:
    secret = generate_secret()
    headers = sign_headers([secret], "msg_1", b'{"a":1}')
    verify(secret, headers, b'{"a":1}')
    with pytest.raises(WebhookVerificationError, match="no signature"):
        verify(secret, headers, b'{"a":2}')
    with pytest.raises(WebhookVerificationError, match="no signature"):
        verify(generate_secret(), headers, b'{"a":1}')
    with pytest.raises(WebhookVerificationError, match="missing webhook-signature"):
        verify(secret, {k: v for k, v in headers.items() if k != "webhook-signature"}, b'{"a":1}')


def test_timestamp_outside_tolerance_is_refused() -> None:
    secret = generate_secret()
    headers = sign_headers([secret], "msg_1", b"{}", timestamp=1_000_000)
    assert verify(secret, headers, b"{}", now=1_000_000 + 299) == "msg_1"
    with pytest.raises(WebhookVerificationError, match="tolerance"):
        verify(secret, headers, b"{}", now=1_000_000 + 301)
    with pytest.raises(WebhookVerificationError, match="tolerance"):
        verify(secret, headers, b"{}", now=1_000_000 - 301)
    assert verify(secret, headers, b"{}", tolerance_s=3600, now=1_000_000 + 3000) == "msg_1"


def test_rotation_signs_with_every_secret_and_either_verifies() -> None:
    old, new = generate_secret(), generate_secret()
    headers = sign_headers([new, old], "msg_2", b"x")
    assert len(headers["webhook-signature"].split()) == 2
    assert verify(old, headers, b"x") == "msg_2"
    assert verify(new, headers, b"x") == "msg_2"
    assert verify([generate_secret(), new], headers, b"x") == "msg_2"


def test_verify_imports_with_the_standard_library_only() -> None:
    """Receivers use the base install: importing verify must not pull in the pipeline."""
    code = ("import sys; import meterstream.sinks.webhooks.verify; "
            "bad = {m for m in sys.modules if m.split('.')[0] in "
            "('aiohttp', 'confluent_kafka', 'cryptography', 'clickhouse_connect', 'faust', 'fastavro', 'pydantic')}; "
            "print(sorted(bad)); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr

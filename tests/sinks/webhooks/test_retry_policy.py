"""Which results are retried, when, and how Retry-After is honoured (unit tests)."""

from __future__ import annotations

import email.utils
import random

import pytest

from meterstream.sinks.webhooks.retry_policy import RetryPolicy, Verdict, classify, parse_retry_after
from meterstream.sinks.webhooks.settings import DEFAULT_SCHEDULE, WebhookSettings


@pytest.mark.parametrize("status,verdict", [
    (200, Verdict.DELIVERED), (204, Verdict.DELIVERED), (410, Verdict.GONE), (400, Verdict.FAILED),
    (401, Verdict.FAILED), (404, Verdict.FAILED), (408, Verdict.RETRY), (429, Verdict.RETRY),
    (500, Verdict.RETRY), (503, Verdict.RETRY), (301, Verdict.RETRY), (None, Verdict.RETRY)])
def test_classify(status: int | None, verdict: Verdict) -> None:
    assert classify(status) is verdict


def test_default_schedule_spans_more_than_a_day_even_with_jitter() -> None:
    policy = RetryPolicy(tuple(DEFAULT_SCHEDULE), jitter=0.1)
    assert policy.horizon() * 0.9 >= 24 * 3600
    assert policy.max_attempts == len(DEFAULT_SCHEDULE) + 1


def test_delays_follow_the_schedule_within_jitter_then_stop() -> None:
    policy = RetryPolicy((1.0, 10.0, 100.0), jitter=0.2)
    rng = random.Random(7)
    for attempts, base in ((1, 1.0), (2, 10.0), (3, 100.0)):
        for _ in range(50):
            d = policy.delay(attempts, rng=rng)
            assert d is not None and base * 0.8 <= d <= base * 1.2
    assert policy.delay(4) is None


def test_retry_after_is_a_minimum_and_is_capped() -> None:
    policy = RetryPolicy((1.0, 1.0), jitter=0.0, retry_after_max_s=60)
    assert policy.delay(1, retry_after=30) == 30
    assert policy.delay(1, retry_after=0.5) == 1.0
    assert policy.delay(1, retry_after=10_000) == 60


def test_parse_retry_after_seconds_and_http_date() -> None:
    assert parse_retry_after("120") == 120
    date = email.utils.formatdate(1_000_100, usegmt=True)
    assert parse_retry_after(date, now=1_000_000) == pytest.approx(100)
    assert parse_retry_after(date, now=2_000_000) == 0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_settings_refuse_a_retention_shorter_than_the_retry_horizon() -> None:
    with pytest.raises(ValueError, match="webhook_state_retention_s"):
        WebhookSettings(webhook_state_retention_s=3600)
    with pytest.raises(ValueError, match="webhook_retry_schedule"):
        WebhookSettings(webhook_retry_schedule=[1, -1])
    assert WebhookSettings(webhook_retry_schedule=[0.2, 0.4], webhook_state_retention_s=60).webhook_retry_schedule

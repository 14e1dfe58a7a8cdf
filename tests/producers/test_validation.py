"""Bad input of every kind is refused at the call, naming the field, and nothing is enqueued."""

from __future__ import annotations

import hashlib
import inspect
import threading
import uuid
from decimal import Decimal
from typing import Any

import pytest

from meterstream.errors import ConfigError
from meterstream.producers import InvalidEventError, MeterClosedError, ProducerSettings
from meterstream.producers.ids import EventIds

OK: dict[str, Any] = {"license_id": "lic-1", "metric": "inferences", "quantity": 1}

BAD: list[tuple[str, dict[str, Any], str]] = [
    ("license_id", {"license_id": ""}, "required"),
    ("license_id", {"license_id": None}, "must be a string"),
    ("license_id", {"license_id": 42}, "must be a string"),
    ("license_id", {"license_id": "x" * 257}, "longer than 256"),
    ("license_id", {"license_id": "a\x00b"}, "NUL"),
    ("license_id", {"license_id": "\ud800"}, "surrogate"),
    ("metric", {"metric": "tokens"}, "must be one of"),
    ("metric", {"metric": None}, "must be one of"),
    ("metric", {"metric": ["inferences"]}, "must be one of"),
    ("license_id", {"license_id": ["lic-1"]}, "must be a string"),
    ("quantity", {"quantity": -1}, "between 0 and 10\\^12"),
    ("quantity", {"quantity": 10**12 + 1}, "between 0 and 10\\^12"),
    ("quantity", {"quantity": Decimal("1.0000001")}, "6 decimal places"),
    ("quantity", {"quantity": 0.1234567}, "6 decimal places"),
    ("quantity", {"quantity": float("nan")}, "not finite"),
    ("quantity", {"quantity": float("inf")}, "not finite"),
    ("quantity", {"quantity": "lots"}, "not a number"),
    ("quantity", {"quantity": True}, "must be a number"),
    ("quantity", {"quantity": [1]}, "must be a number"),
    ("model", {"model": ""}, "required"),
    ("model", {"model": 3}, "must be a string"),
    ("feature", {"feature": "f" * 300}, "longer than 256"),
    ("model_version", {"model_version": 1.0}, "must be a string"),
    ("team", {"team": b"bytes"}, "must be a string"),
    ("app", {"app": "a\x00"}, "NUL"),
    ("environment", {"environment": 1}, "must be a string"),
    ("purpose", {"purpose": "p" * 257}, "longer than 256"),
    ("hardware_id", {"hardware_id": ["gpu"]}, "must be a string"),
    ("region", {"region": "\udfff"}, "surrogate"),
    ("status", {"status": "failed"}, "must be one of"),
    ("latency_us", {"latency_us": -5}, "non-negative int"),
    ("latency_us", {"latency_us": 1.5}, "non-negative int"),
    ("event_time_us", {"event_time_us": 1_700_000_000}, "between 2000 and 2200"),
    ("event_time_us", {"event_time_us": "now"}, "microseconds"),
    ("event_id", {"event_id": "not-a-uuid"}, "UUID"),
    ("event_id", {"event_id": str(uuid.uuid4()).upper()}, "lowercase UUID"),
    ("input_hash", {"input_hash": "abc"}, "SHA-256"),
    ("output_hash", {"output_hash": "G" * 64}, "SHA-256"),
    ("input", {"input": 12345}, "bytes or str"),
    ("output", {"output": {"text": "x"}}, "bytes or str"),
    ("input", {"input": b"x" * 2048}, "exceeds max_payload_bytes"),
    ("provider", {"provider": 3}, "must be a string"),
    ("source", {"source": "s" * 300}, "longer than 256"),
    ("user_id", {"user_id": "a\x00"}, "NUL"),
    ("use_case", {"use_case": ["uc"]}, "must be a string"),
    ("sensitivity", {"sensitivity": 1}, "must be a string"),
    ("stage", {"stage": b"generate"}, "must be a string"),
    ("data_categories", {"data_categories": "pii"}, "must be a list of strings"),
    ("data_categories", {"data_categories": {"pii": 1}}, "must be a list of strings"),
    ("data_categories", {"data_categories": ["pii", 3]}, "must be a string"),
    ("data_categories", {"data_categories": [""]}, "required"),
    ("data_categories", {"data_categories": [f"c{i}" for i in range(40)]}, "more than 32"),
    ("trace_id", {"trace_id": ""}, "required"),
    ("trace_id", {"trace_id": 12345}, "must be a string"),
    ("decision_id", {"decision_id": "\udfff"}, "surrogate"),
    ("reservation_id", {"reservation_id": "r" * 257}, "longer than 256"),
]


@pytest.mark.parametrize(("field", "change", "reason"), BAD, ids=[f"{f}-{i}" for i, (f, _, _) in enumerate(BAD)])
def test_bad_input_is_refused_with_field_and_reason(offline_meter, field: str, change: dict[str, Any],
                                                    reason: str) -> None:
    meter = offline_meter(model="llama-3", max_payload_bytes=1024)
    args = {**OK, **change}
    with pytest.raises(InvalidEventError, match=reason) as info:
        meter.record(args.pop("license_id"), args.pop("metric"), args.pop("quantity"), **args)
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")
    assert meter.buffered() == 0


def test_model_is_required_when_the_settings_have_none(offline_meter) -> None:
    meter = offline_meter()
    with pytest.raises(InvalidEventError, match="model: is required"):
        meter.record("lic-1", "inferences")
    assert meter.record("lic-1", "inferences", model="m")
    assert meter.buffered() == 1


def test_invalid_settings_are_refused_at_construction(offline_meter) -> None:
    with pytest.raises(InvalidEventError, match="team"):
        offline_meter(team="t" * 300)
    with pytest.raises(ValueError, match="fsync"):
        ProducerSettings(fsync="sometimes")
    with pytest.raises(ConfigError, match="lingerms"):
        offline_meter(lingerms=5)
    with pytest.raises(InvalidEventError, match="provider"):
        offline_meter(provider="\x00")
    with pytest.raises(InvalidEventError, match="data_categories"):
        offline_meter(data_categories=["ok", ""])


def test_good_events_of_every_kind_are_accepted(offline_meter) -> None:
    meter = offline_meter(model="llama-3")
    for metric in ("input_tokens", "output_tokens", "cached_input_tokens", "reasoning_tokens", "inferences",
                   "pages", "images", "gpu_seconds"):
        meter.record("lic-1", metric, 3)
    meter.record("lic-1", "gpu_seconds", Decimal("0.000001"))
    meter.record("lic-1", "gpu_seconds", 1.25)
    meter.record("lic-1", "gpu_seconds", "2.5")
    meter.record("lic-1", "inferences", 0, input=b"in", output="out", status="error", latency_us=0)
    meter.record("lic-1", "inferences", input_hash=hashlib.sha256(b"x").hexdigest())
    given = str(uuid.uuid4())
    assert meter.record("lic-1", "inferences", event_id=given) == given
    meter.record("lic-1", "output_tokens", 9, provider="anthropic", source="otlp", user_id="u-1", use_case="uc-7",
                 data_categories=("pii", "phi", "pii"), sensitivity="restricted", trace_id="0af7651916cd43dd",
                 stage="generate", decision_id="dec-1", reservation_id="res-1")
    meter.record("lic-1", "inferences", data_categories=[], stage="")
    meter.record("lic-1", "inferences", data_categories={"phi", "pii"})
    assert meter.buffered() == 17


def _built(meter: Any, license_id: str) -> dict[str, list[Any]]:
    """Columns of the batch the meter's flusher would build from what is buffered for ``license_id``."""
    from meterstream.producers.batch import BatchBuilder
    from meterstream.schemas import BatchCodec

    flat = list(meter._queues[license_id])
    return BatchCodec().decode(BatchBuilder(meter.settings, "p").build(license_id, flat)).columns


def test_v2_fields_travel_and_meter_defaults_fill_the_rest(offline_meter) -> None:
    meter = offline_meter(model="m", provider="self-hosted", use_case="uc-1", sensitivity="internal",
                          data_categories=["pii"])
    meter.record("lic-9", "inferences")
    meter.record("lic-9", "input_tokens", 5, provider="openai", user_id="u", data_categories=["phi", "phi"],
                 trace_id="t" * 32, stage="retrieve", decision_id="d-1", reservation_id="r-1")
    meter.record("lic-9", "cached_input_tokens", 4, source="openai-sdk", data_categories=[], sensitivity="")
    cols = _built(meter, "lic-9")
    assert cols["provider"] == ["self-hosted", "openai", "self-hosted"]
    assert cols["source"] == ["library", "library", "openai-sdk"]
    assert cols["user_id"] == ["", "u", ""] and cols["use_case"] == ["uc-1"] * 3
    assert cols["data_categories"] == [("pii",), ("phi",), ()]
    assert cols["sensitivity"] == ["internal", "internal", ""]
    assert cols["trace_id"] == [None, "t" * 32, None] and cols["stage"] == ["", "retrieve", ""]
    assert cols["decision_id"] == [None, "d-1", None] and cols["reservation_id"] == [None, "r-1", None]
    assert cols["metric"] == ["inferences", "input_tokens", "cached_input_tokens"]


def test_timed_and_arecord_take_the_v2_fields(offline_meter) -> None:
    import asyncio

    meter = offline_meter(model="m")
    with meter.timed("lic-8", provider="anthropic", trace_id="abc", stage="rerank"):
        pass
    asyncio.run(meter.arecord("lic-8", "reasoning_tokens", 7, provider="openai", stage="generate"))
    with pytest.raises(InvalidEventError, match="stage"):
        asyncio.run(meter.arecord("lic-8", "inferences", stage=7))
    cols = _built(meter, "lic-8")
    assert cols["provider"] == ["anthropic", "openai"] and cols["stage"] == ["rerank", "generate"]
    assert cols["trace_id"] == ["abc", None] and cols["source"] == ["library"] * 2


def test_ids_are_unique_rfc4122_uuids() -> None:
    ids = EventIds()
    other = EventIds()
    seen = {ids.format(ids.take()) for _ in range(10_000)} | {other.format(other.take()) for _ in range(10_000)}
    assert len(seen) == 20_000
    for s in list(seen)[:100]:
        u = uuid.UUID(s)
        assert str(u) == s and u.version == 8 and u.variant == uuid.RFC_4122


def test_ids_from_the_cached_head_equal_the_plain_format() -> None:
    """record() joins a cached head to a table entry; across head changes, and with threads racing on the
    head, every id is still the prefix and the 12-digit counter, and none repeats."""
    ids = EventIds()
    start = (1 << 12) - 5
    ids.counter = iter(range(start, start + 3 * 4096 + 10))  # type: ignore[assignment]
    got: list[list[str]] = [[] for _ in range(4)]

    def take(out: list[str]) -> None:
        for n in ids.counter:
            out.append(ids.fast(n))
    threads = [threading.Thread(target=take, args=(out,)) for out in got]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [i for out in got for i in out]
    assert sorted(every) == [f"{ids.prefix}{n:012x}" for n in range(start, start + 3 * 4096 + 10)]
    assert ids.format((1 << 48) + 3) != ids.format(3) and ids.format((1 << 48) + 3).endswith("000000000003")


def test_record_takes_at_most_three_positional_arguments(offline_meter) -> None:
    meter = offline_meter(model="m")
    with pytest.raises(TypeError, match="3 positional"):
        meter.record("lic-1", "inferences", 1, "chat")
    assert meter.buffered() == 0
    params = inspect.signature(meter.record).parameters
    assert list(params)[:3] == ["license_id", "metric", "quantity"] and "_keywords_only" not in params
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in list(params.values())[3:])


def test_record_after_close_is_refused(offline_meter) -> None:
    meter = offline_meter(model="m")
    meter.close(timeout=0.5)
    with pytest.raises(MeterClosedError):
        meter.record("lic-1", "inferences")


def test_settings_that_could_only_fail_later_are_refused_up_front() -> None:
    from pydantic import ValidationError

    from meterstream.producers import ProducerSettings

    with pytest.raises(ValidationError, match="spool_max_bytes"):
        ProducerSettings(spool_max_bytes=1 << 16, max_message_bytes=1_000_000)
    with pytest.raises(ValidationError, match="quota_url"):
        ProducerSettings(quota_url="localhost:6066")

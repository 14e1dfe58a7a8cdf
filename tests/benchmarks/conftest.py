"""Benchmarks reuse the stream-processor fixtures (workers as subprocesses, license admin, raw producer)."""

from tests.stream_processors.conftest import admin, raw_producer, start_worker  # noqa: F401

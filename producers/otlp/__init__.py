"""The OTLP/HTTP receiver: OpenTelemetry GenAI spans from any instrumented app become usage events.

``meterstream otlp`` serves ``POST /v1/traces`` (protobuf and JSON), maps each
GenAI span to a :class:`~meterstream.producers.genai_usage.CallUsage`
(``span_events.py``) with the license, team, app... taken from span or resource
attributes through a configurable map (``attribute_map.py``), and records it
through the producer library (batching, spool, Kafka). Needs the ``otlp``
extra (``opentelemetry-proto``, which brings ``protobuf``).
"""

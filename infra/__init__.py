"""Local infrastructure for meterstream: a real Kafka broker for development and tests."""

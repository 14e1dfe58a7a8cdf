"""Every Kafka concern of meterstream, written once: client configuration per role, topic specs and
their creation, reading a compacted topic to its end, the partitioner, dead-letter headers."""

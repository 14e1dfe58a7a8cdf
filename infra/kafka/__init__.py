"""A local Apache Kafka 4.x broker (KRaft, single node) fetched from Maven Central."""

from .broker import KafkaStartError, LocalKafka, kafka_version

__all__ = ["KafkaStartError", "LocalKafka", "kafka_version"]

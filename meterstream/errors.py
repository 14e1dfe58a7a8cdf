"""The root of every error meterstream raises on purpose."""


class MeterstreamError(Exception):
    """Base class: catch this to catch any meterstream error."""


class ConfigError(MeterstreamError):
    """Settings that cannot work together, found before anything starts."""


class TopicError(MeterstreamError):
    """A Kafka topic could not be created, found or read to its end."""

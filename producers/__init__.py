"""The producer library that inference services embed to meter their calls."""

from .errors import InvalidEventError, MeterClosedError, ProducerError
from .meter import Meter
from .settings import ProducerSettings

__all__ = ["InvalidEventError", "Meter", "MeterClosedError", "ProducerError", "ProducerSettings"]

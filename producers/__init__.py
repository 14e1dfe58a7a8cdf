"""The producer library that inference services embed to meter their calls."""

from .check import CheckResult
from .errors import (DurabilityTimeoutError, InvalidEventError, MeterClosedError, ProducerError, SpoolError,
                     SpoolFullError)
from .meter import Meter
from .settings import ProducerSettings
from .validate import ValidationResult

__all__ = ["CheckResult", "DurabilityTimeoutError", "InvalidEventError", "Meter", "MeterClosedError",
           "ProducerError", "ProducerSettings", "SpoolError", "SpoolFullError",
           "ValidationResult"]

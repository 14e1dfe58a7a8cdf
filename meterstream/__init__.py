"""meterstream: event-streaming metering for AI model licensing and usage monitoring."""

__version__ = "0.1.0"

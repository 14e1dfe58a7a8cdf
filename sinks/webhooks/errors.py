"""Errors of the webhook dispatcher and its CLI."""

from meterstream.errors import ConfigError, MeterstreamError


class WebhookError(MeterstreamError):
    """Base of the webhook errors."""


class EndpointNotFound(WebhookError):
    """No endpoint with that id in the endpoint registry."""


class MasterKeyError(ConfigError, WebhookError):
    """The master key that encrypts signing secrets is missing or wrong."""

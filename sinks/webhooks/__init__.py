"""Alert webhooks: signed, retried for a day, durable across restarts, every attempt logged.

Receivers only need :mod:`meterstream.sinks.webhooks.verify` (standard library
only); everything else here is the dispatcher side and needs the pipeline extra.
This file imports nothing so that receivers can import ``verify`` with the base
install.
"""

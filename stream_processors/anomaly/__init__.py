"""Anomaly detection: license-term violations, spend spikes, and producer sequence gaps/repeats."""

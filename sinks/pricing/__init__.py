"""Prices: the versioned catalog, per-event price lookup, and repricing past ranges."""

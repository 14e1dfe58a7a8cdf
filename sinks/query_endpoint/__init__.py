"""The read-only query endpoint the sink serves on its embedded ClickHouse (ClickHouse HTTP compatible).

chDB lets one process open a data directory, and the sink holds it; this is how
``meterstream sql``, the report and the dashboard read it while the sink runs.
"""

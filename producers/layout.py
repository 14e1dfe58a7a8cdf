"""The layout of a buffered row: what ``Meter.record()`` appends per call, read by the batch encoders.

Rows are stored flat, ``ROW_WIDTH`` values each, in one list per license (see ``batch.py``).
The fields added by usage event v2 share one slot, ``extra``: ``None`` when the call gave none
of them, else a tuple in ``EXTRA_FIELDS`` order with ``None`` for each one not given.
"""

from __future__ import annotations

# Position of each per-call value in a row, as appended by Meter.record().
ROW_FIELDS = ("event_id", "event_time_ns", "metric", "quantity", "feature", "model", "model_version", "status",
              "latency_us", "team", "app", "environment", "purpose", "hardware_id", "region",
              "input_hash", "output_hash", "extra")
ROW_WIDTH = len(ROW_FIELDS)
EXTRA = ROW_FIELDS.index("extra")
TIME = ROW_FIELDS.index("event_time_ns")
DEFAULTED = ("feature", "model", "model_version", "team", "app", "environment", "purpose", "hardware_id",
             "region")
# The v2 fields carried in the ``extra`` slot, in tuple order.
EXTRA_FIELDS = ("provider", "source", "user_id", "use_case", "data_categories", "sensitivity", "trace_id",
                "stage", "decision_id", "reservation_id")
EXTRA_DEFAULTED = ("provider", "source", "use_case", "data_categories", "sensitivity")  # from the settings
NO_EXTRA = (None,) * len(EXTRA_FIELDS)

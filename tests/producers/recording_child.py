"""A producing process for the SIGKILL test: records events until killed, printing "<id> <time_us>"
for each event record() acknowledged.

Usage: python -m tests.producers.recording_child BOOTSTRAP TOPIC_PREFIX SPOOL_DIR FSYNC
"""

from __future__ import annotations

import sys
import time

from meterstream.producers import Meter


def main(bootstrap: str, prefix: str, spool_dir: str, fsync: str) -> None:
    meter = Meter(kafka_bootstrap_servers=bootstrap, topic_prefix=prefix, spool_dir=spool_dir, fsync=fsync,
                  model="llama-3", linger_ms=20, delivery_timeout_ms=3000)
    n = 0
    while True:
        now = time.time_ns() // 1000
        event_id = meter.record(f"lic-{n % 5}", "inferences", event_time_us=now)
        sys.stdout.write(f"{event_id} {now}\n")
        sys.stdout.flush()
        n += 1
        if n % 20 == 0:
            time.sleep(0.001)  # a busy service, not a benchmark: keeps the test's volume modest


if __name__ == "__main__":
    main(*sys.argv[1:5])

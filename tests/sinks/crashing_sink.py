"""``python -m tests.sinks.crashing_sink N``: the real ``meterstream sink``, killed by SIGKILL right after
its N-th batch was written and logged, before that batch's offsets are committed.

Fault injection lives here, in the tests: the child installs a wrapper on the
batching consumer's commit step and then runs the unchanged sink command.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from typing import Any

from meterstream.cli import main
from meterstream.sinks.batching import BatchingConsumer

log = logging.getLogger("tests.crashing_sink")


def install(after_writes: int) -> None:
    real_commit = BatchingConsumer._commit

    def commit(self: BatchingConsumer[Any], offsets: dict[tuple[str, int], int]) -> None:
        if self.flushes >= after_writes:
            log.warning("fault injection: SIGKILL after write %d, before its commit", self.flushes)
            os.kill(os.getpid(), signal.SIGKILL)
        real_commit(self, offsets)

    BatchingConsumer._commit = commit  # type: ignore[method-assign]


if __name__ == "__main__":
    install(int(sys.argv[1]))
    sys.exit(main(["sink"]))

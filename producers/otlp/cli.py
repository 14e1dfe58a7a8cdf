"""``meterstream otlp``: run the OTLP/HTTP receiver until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("otlp", help="receive OpenTelemetry GenAI spans (OTLP/HTTP) and meter them")
    p.add_argument("--host", help="address to bind (default: METERSTREAM_OTLP_HOST, 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default: METERSTREAM_OTLP_PORT, 4318)")
    p.set_defaults(handler=_otlp)


def _otlp(args: argparse.Namespace) -> int:
    import signal
    import threading

    from ..meter import Meter
    from .receiver import OtlpReceiver
    from .settings import OtlpSettings

    overrides = {k: v for k, v in (("otlp_host", args.host), ("otlp_port", args.port)) if v is not None}
    settings = OtlpSettings(**overrides)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with Meter(source="otlp") as meter:
        receiver = OtlpReceiver(meter, settings)
        server, thread = receiver.start()
        host, port = str(server.server_address[0]), server.server_address[1]
        print(f"OTLP/HTTP receiver on http://{host}:{port}/v1/traces (producer {meter.producer_id})", flush=True)
        stop.wait()
        server.shutdown()
        thread.join(10)
        print(f"stopped: {receiver.stats}", flush=True)
    return 0

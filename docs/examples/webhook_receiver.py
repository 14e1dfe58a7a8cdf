"""A minimal webhook receiver for the README's tour: verifies each delivery and prints it.

    WEBHOOK_SECRET=whsec_... .venv/bin/python docs/examples/webhook_receiver.py   # listens on 127.0.0.1:8000

Only the standard library and ``meterstream.sinks.webhooks.verify`` (base install) are used.
"""

import json
import os
from http.server import BaseHTTPRequestHandler, HTTPServer

from meterstream.sinks.webhooks.verify import WebhookVerificationError, verify

SECRET = os.environ["WEBHOOK_SECRET"]  # the whsec_... that `meterstream webhook add` printed
seen: set[str] = set()  # webhook-ids already processed; in production a table with a unique key


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        try:
            msg_id = verify(SECRET, self.headers, body)  # HMAC of id.timestamp.body; timestamp within 5 min
        except WebhookVerificationError as exc:
            print("rejected:", exc, flush=True)
            self.send_response(400)
            self.end_headers()
            return
        if msg_id not in seen:  # a retry of a delivery already processed keeps its id: acknowledge only
            seen.add(msg_id)
            event = json.loads(body)
            data = event["data"]
            print(msg_id, event["type"], data.get("license_id", ""), data.get("message", ""), flush=True)
        self.send_response(200)  # answer 2xx quickly; 410 would disable the endpoint
        self.end_headers()


if __name__ == "__main__":
    HTTPServer(("127.0.0.1", 8000), Receiver).serve_forever()

"""A local HTTP server that answers like the OpenAI and Anthropic APIs, streaming (SSE) included.

Fixed usage per call, so tests know the exact counts: OpenAI chat 120 prompt
tokens (100 cached) and 30 completion tokens (10 reasoning); responses 50 in
(20 cached), 40 out (25 reasoning); embeddings 8; Anthropic 12 uncached input
tokens + 300 read from and 50 written to the cache, 42 output tokens. The model
``no-such-model`` gets the API's 404 error.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

CHAT_USAGE = {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150,
              "prompt_tokens_details": {"cached_tokens": 100}, "completion_tokens_details": {"reasoning_tokens": 10}}
RESPONSES_USAGE = {"input_tokens": 50, "output_tokens": 40, "total_tokens": 90,
                   "input_tokens_details": {"cached_tokens": 20}, "output_tokens_details": {"reasoning_tokens": 25}}
ANTHROPIC_USAGE = {"input_tokens": 12, "cache_read_input_tokens": 300, "cache_creation_input_tokens": 50,
                   "output_tokens": 42}
SNAPSHOT = {"gpt-4o": "gpt-4o-2024-08-06", "claude-sonnet-4-5": "claude-sonnet-4-5-20250929"}


def _chat(model: str) -> dict[str, Any]:
    return {"id": "chatcmpl-1", "object": "chat.completion", "created": 1_700_000_000, "model": model,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": "hello"}}], "usage": CHAT_USAGE}


def _chat_chunks(model: str, with_usage: bool) -> Iterator[tuple[str | None, dict[str, Any]]]:
    base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1_700_000_000, "model": model}
    for word in ("hel", "lo"):
        yield None, {**base, "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}]}
    yield None, {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    if with_usage:
        yield None, {**base, "choices": [], "usage": CHAT_USAGE}


def _response(model: str) -> dict[str, Any]:
    return {"id": "resp_1", "object": "response", "created_at": 1_700_000_000, "model": model, "status": "completed",
            "output": [], "parallel_tool_calls": True, "tool_choice": "auto", "tools": [],
            "usage": RESPONSES_USAGE}


def _response_events(model: str) -> Iterator[tuple[str | None, dict[str, Any]]]:
    created = {**_response(model), "status": "in_progress", "usage": None}
    yield "response.created", {"type": "response.created", "sequence_number": 0, "response": created}
    yield "response.output_text.delta", {"type": "response.output_text.delta", "sequence_number": 1,
                                         "item_id": "m", "output_index": 0, "content_index": 0, "delta": "hi",
                                         "logprobs": []}
    yield "response.completed", {"type": "response.completed", "sequence_number": 2, "response": _response(model)}


def _message(model: str) -> dict[str, Any]:
    return {"id": "msg_1", "type": "message", "role": "assistant", "model": model, "stop_reason": "end_turn",
            "stop_sequence": None, "content": [{"type": "text", "text": "hello"}], "usage": ANTHROPIC_USAGE}


def _message_events(model: str) -> Iterator[tuple[str | None, dict[str, Any]]]:
    start = {**_message(model), "content": [], "stop_reason": None,
             "usage": {**ANTHROPIC_USAGE, "output_tokens": 1}}
    yield "message_start", {"type": "message_start", "message": start}
    yield "content_block_start", {"type": "content_block_start", "index": 0,
                                  "content_block": {"type": "text", "text": ""}}
    yield "content_block_delta", {"type": "content_block_delta", "index": 0,
                                  "delta": {"type": "text_delta", "text": "hello"}}
    yield "content_block_stop", {"type": "content_block_stop", "index": 0}
    yield "message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                            "usage": {"output_tokens": ANTHROPIC_USAGE["output_tokens"]}}
    yield "message_stop", {"type": "message_stop"}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
        model = body.get("model", "")
        anthropic = self.path.endswith("/messages")
        if model == "no-such-model":
            error = ({"type": "error", "error": {"type": "not_found_error", "message": f"model: {model}"}}
                     if anthropic else {"error": {"message": f"The model `{model}` does not exist",
                                                  "type": "invalid_request_error", "code": "model_not_found"}})
            return self._json(404, error)
        served = SNAPSHOT.get(model, model)
        if self.path.endswith("/chat/completions"):
            with_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return self._sse(_chat_chunks(served, with_usage), done=True) if body.get("stream") \
                else self._json(200, _chat(served))
        if self.path.endswith("/responses"):
            return self._sse(_response_events(served)) if body.get("stream") else self._json(200, _response(served))
        if self.path.endswith("/embeddings"):
            return self._json(200, {"object": "list", "model": served, "usage": {"prompt_tokens": 8, "total_tokens": 8},
                                    "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}]})
        if anthropic:
            return self._sse(_message_events(served)) if body.get("stream") else self._json(200, _message(served))
        self._json(404, {"error": {"message": f"no route {self.path}"}})

    def _json(self, status: int, doc: dict[str, Any]) -> None:
        data = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _sse(self, events: Iterator[tuple[str | None, dict[str, Any]]], done: bool = False) -> None:
        parts = [(f"event: {name}\n" if name else "") + f"data: {json.dumps(doc)}\n\n" for name, doc in events]
        if done:
            parts.append("data: [DONE]\n\n")
        data = "".join(parts).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


class FakeLlmApi:
    """Serves on 127.0.0.1 on a free port until ``stop()``; ``url`` is its base URL."""

    def __init__(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

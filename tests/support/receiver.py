"""A log destination for tests: a real HTTP server on a free loopback port that records every request.

It speaks the receiving side of the hosted-collector HTTP-source protocol: gzip or plain bodies of
newline-separated messages, metadata in `X-Sumo-*` headers. A test can script the answers of the
next requests (`answer(503, times=2)`), or `stop()` and `start()` it on the same port. It shares no
code with `core/sinks`, so a misreading of the protocol cannot hide on both sides.

    with Receiver() as receiver:
        sink = HttpSink(receiver.url)
        ...
        receiver.delivered()   # each (batch id, part) once, in arrival order
"""

from __future__ import annotations

import gzip
import json
import threading
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import unquote

from tests.support.loopback import CuttableServer, LoopbackServer

PATH = "/receiver/v1/http/test-token"
_NAMED = {"_source": "x-sumo-name", "_sourceCategory": "x-sumo-category", "_collector": "x-sumo-host"}


@dataclass(frozen=True)
class ReceivedRequest:
    """One request as it arrived, and what the receiver answered."""

    method: str
    path: str
    headers: dict[str, str]  # lower-case names; values decoded as UTF-8
    body_size: int  # bytes on the wire (compressed, if it was)
    lines: tuple[str, ...]  # the decompressed body's non-empty lines
    status: int

    @property
    def accepted(self) -> bool:
        return 200 <= self.status < 300

    @property
    def batch_key(self) -> tuple[str, str] | None:
        batch = self.headers.get("x-batch-id")
        return (batch, self.headers.get("x-batch-part", "")) if batch is not None else None

    @property
    def fields(self) -> dict[str, str]:
        """X-Sumo-Fields `k=v,k=v`, each side percent-decoded."""
        text = self.headers.get("x-sumo-fields", "")
        pairs = (item.split("=", 1) for item in text.split(",") if item)
        return {unquote(name): unquote(value) for name, value in pairs}

    @property
    def metadata(self) -> dict[str, str]:
        """The metadata the headers carry, under the names of the file destination's lines."""
        found = {key: self.headers[header] for key, header in _NAMED.items() if header in self.headers}
        return {**found, **self.fields}


@dataclass(frozen=True)
class Delivered:
    """One message the destination holds: its request's batch id and part, metadata and record."""

    batch_id: str | None
    part: str | None
    metadata: dict[str, str]
    record: Any


class Receiver(LoopbackServer):
    """The destination. `url` is the collector URL; `delivered()` is what it holds, de-duplicated."""

    def __init__(self, port: int | None = None) -> None:
        super().__init__(_Handler, port)
        self._lock = threading.Lock()
        self._requests: list[ReceivedRequest] = []
        self._answers: deque[int] = deque()
        self._stall_next = False
        self._stalled: ReceivedRequest | None = None
        self._released = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{PATH}"

    def stop(self) -> None:
        """Stop listening and cut open connections: the destination is down until `start()`."""
        self._released.set()
        super().stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    def answer(self, status: int, times: int = 1) -> None:
        """Answer the next `times` requests with `status` instead of 200 (they are still recorded)."""
        with self._lock:
            self._answers.extend([status] * times)

    def stall(self) -> None:
        """The next request carrying messages is recorded and accepted, but its answer waits until
        `release()`: the destination holds the batch while its sender hangs (for a test to kill it
        between the destination's write and its checkpoint commit)."""
        with self._lock:
            self._stall_next, self._stalled = True, None
            self._released.clear()

    def stalled(self) -> ReceivedRequest | None:
        """The request held by `stall()`, once it arrived."""
        with self._lock:
            return self._stalled

    def release(self) -> None:
        self._released.set()

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()
            self._answers.clear()

    @property
    def requests(self) -> list[ReceivedRequest]:
        """Every request so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    def accepted(self) -> list[ReceivedRequest]:
        """Requests answered 2xx that carried messages (health checks carry none)."""
        return [request for request in self.requests if request.accepted and request.lines]

    def delivered(self) -> list[Delivered]:
        """Messages of accepted requests, each (batch id, part) counted once, in arrival order."""
        seen: set[tuple[str, str]] = set()
        out: list[Delivered] = []
        for request in self.accepted():
            key = request.batch_key
            if key is not None:
                if key in seen:
                    continue
                seen.add(key)
            metadata = request.metadata
            batch, part = key if key is not None else (None, None)
            out.extend(Delivered(batch, part, metadata, json.loads(line)) for line in request.lines)
        return out

    # Called by the handler threads.
    def _next_status(self) -> int:
        with self._lock:
            return self._answers.popleft() if self._answers else 200

    def _record(self, request: ReceivedRequest) -> None:
        with self._lock:
            self._requests.append(request)
            held = self._stall_next and bool(request.lines)
            if held:
                self._stall_next, self._stalled = False, request
        if held:
            self._released.wait(timeout=60)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: CuttableServer

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {name.lower(): _utf8(value) for name, value in self.headers.items()}
        data = gzip.decompress(body) if headers.get("content-encoding") == "gzip" else body
        lines = tuple(line for line in data.decode("utf-8").split("\n") if line)
        receiver: Receiver = self.server.owner
        status = receiver._next_status()
        receiver._record(ReceivedRequest("POST", self.path, headers, len(body), lines, status))
        answer = json.dumps({"status": status}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        if status == 429:
            self.send_header("Retry-After", "1")
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read `Receiver.requests`, not a log."""


def _utf8(value: str) -> str:
    """http.server reads header bytes as latin-1; our sender writes UTF-8."""
    return value.encode("latin-1").decode("utf-8")

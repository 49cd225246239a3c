"""Destinations for tests that speak documented HTTP protocols, on real sockets on loopback:

- `HecReceiver`: Splunk's HTTP Event Collector: `POST /services/collector/event` with
  `Authorization: Splunk <token>`, concatenated JSON events, answers `{"text", "code"}` as the HEC
  documentation lists them (0 success, 2 token required, 4 invalid token, 5 no data, 6 invalid data
  format, 9 server busy, 10 data channel missing, 12 event field required), indexer
  acknowledgement by channel (`ackId`, `POST /services/collector/ack`) and `GET .../health`.
- `NdjsonReceiver`: any endpoint taking NDJSON, gzip'd or not, that honours `Idempotency-Key`
  (a key seen before is answered again without storing the body twice).

Both can be told to answer the next requests with a status (`answer(503, times=2)`), stopped and
started on the same port, and served over TLS with a test CA. They share no code with core/sinks.
"""

from __future__ import annotations

import gzip
import json
import threading
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support.loopback import CuttableServer, LoopbackServer
from tests.support.tls import Authority

Answer = tuple[int, dict[str, str], bytes]


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes  # decompressed
    status: int


class _Base(LoopbackServer):
    """Start/stop on one port, scripted answers, every request recorded."""

    def __init__(self, tls: Authority | None = None) -> None:
        super().__init__(_Handler, tls=tls)
        self.lock = threading.Lock()
        self.seen: list[Seen] = []
        self._answers: deque[tuple[int, str | None]] = deque()

    @property
    def base_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def answer(self, status: int, times: int = 1, retry_after: str | None = None) -> None:
        with self.lock:
            self._answers.extend([(status, retry_after)] * times)

    def scripted(self) -> tuple[int, str | None] | None:
        with self.lock:
            return self._answers.popleft() if self._answers else None

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        raise NotImplementedError


class HecReceiver(_Base):
    """A HEC endpoint with one token; `ack=True` makes the token require indexer acknowledgement."""

    def __init__(
        self,
        token: str = "hec-token",  # noqa: S107
        *,
        ack: bool = False,
        tls: Authority | None = None,
    ) -> None:
        super().__init__(tls)
        self.token = token
        self.ack = ack
        self.hold_acks = False  # while true, acks are answered false (not yet indexed)
        self.events: list[dict[str, Any]] = []
        self._next_ack: dict[str, int] = {}
        self._acked: dict[str, set[int]] = {}

    @property
    def url(self) -> str:
        return self.base_url

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        route = urlsplit(path)
        if method == "GET" and route.path == "/services/collector/health":
            return _hec(200, "HEC is healthy", 17)
        auth = headers.get("authorization", "")
        if not auth:
            return _hec(401, "Token is required", 2)
        if auth != f"Splunk {self.token}":
            return _hec(403, "Invalid token", 4)
        scripted = self.scripted()
        if scripted is not None:
            status, retry_after = scripted
            text, code = {503: ("Server is busy", 9), 429: ("Too many requests", 9)}.get(status, ("Error", 8))
            busy = _hec(status, text, code)
            if retry_after is not None:
                busy[1]["Retry-After"] = retry_after
            return busy
        channel = headers.get("x-splunk-request-channel") or parse_qs(route.query).get("channel", [""])[0]
        if route.path == "/services/collector/ack":
            asked = json.loads(body)["acks"]
            done = self._acked.get(channel, set())
            return (
                200,
                {},
                json.dumps({"acks": {str(a): (a in done and not self.hold_acks) for a in asked}}).encode(),
            )
        if route.path != "/services/collector/event":
            return _hec(404, "The requested URL was not found on this server.", 404)
        if self.ack and not channel:
            return _hec(400, "Data channel is missing", 10)
        events = _concatenated(body)
        if events is None:
            return _hec(400, "Invalid data format", 6)
        if not events:
            return _hec(400, "No data", 5)
        if any("event" not in event for event in events):
            return _hec(400, "Event field is required", 12)
        with self.lock:
            self.events.extend(events)
            answer: dict[str, Any] = {"text": "Success", "code": 0}
            if self.ack:
                ack = self._next_ack.get(channel, 0)
                self._next_ack[channel] = ack + 1
                self._acked.setdefault(channel, set()).add(ack)
                answer["ackId"] = ack
        return 200, {}, json.dumps(answer).encode()


class NdjsonReceiver(_Base):
    """An NDJSON endpoint honouring `Idempotency-Key`; `lines` is what it stored, in order."""

    def __init__(self, *, tls: Authority | None = None) -> None:
        super().__init__(tls)
        self.lines: list[dict[str, Any]] = []
        self.keys: dict[str, int] = {}  # key -> times seen

    @property
    def url(self) -> str:
        return self.base_url + "/ingest/mimecast"

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        scripted = self.scripted()
        if scripted is not None:
            status, retry_after = scripted
            return status, ({"Retry-After": retry_after} if retry_after else {}), b"{}"
        key = headers.get("idempotency-key")
        with self.lock:
            if key is not None:
                self.keys[key] = self.keys.get(key, 0) + 1
                if self.keys[key] > 1:
                    return 200, {}, b'{"replayed":true}'
            self.lines.extend(json.loads(line) for line in body.decode("utf-8").split("\n") if line)
        return 200, {}, b'{"stored":true}'


def _hec(status: int, text: str, code: int) -> Answer:
    return status, {}, json.dumps({"text": text, "code": code}).encode()


def _concatenated(body: bytes) -> list[dict[str, Any]] | None:
    """HEC's body: JSON objects one after another (whitespace between them allowed)."""
    decoder = json.JSONDecoder()
    text = body.decode("utf-8")
    events: list[dict[str, Any]] = []
    position = 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position >= len(text):
            return events
        try:
            event, position = decoder.raw_decode(text, position)
        except ValueError:
            return None
        if not isinstance(event, dict):
            return None
        events.append(event)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: CuttableServer

    def _serve(self, method: str) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {name.lower(): value for name, value in self.headers.items()}
        body = gzip.decompress(raw) if headers.get("content-encoding") == "gzip" and raw else raw
        owner: _Base = self.server.owner
        status, extra, answer = owner.handle(method, self.path, headers, body)
        with owner.lock:
            owner.seen.append(Seen(method, self.path, headers, body, status))
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(answer)

    def do_POST(self) -> None:
        self._serve("POST")

    def do_GET(self) -> None:
        self._serve("GET")

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

"""The HTTP destination: the hosted-collector HTTP-source protocol over one pooled httpx client.

Thin I/O: `encoding.http_parts` decides what to send, `contract.status_error` what an answer means.
Parts already accepted by this process are not sent again when a batch is retried, so a retry
after a failed part resends only what the destination has not taken. The URL often holds a secret
token in its path, so it never appears in a repr or an error.
"""

from __future__ import annotations

import gzip
from collections import OrderedDict

import httpx

from core.sinks.contract import Batch, status_error, unreachable
from core.sinks.encoding import MAX_REQUEST_BYTES, Part, http_parts

DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=30.0, write=30.0, pool=10.0)
_REMEMBERED_PARTS = 4096


def redacted(url: str) -> str:
    """`scheme://host[:port]/…`: enough to recognise a destination, never its token."""
    parsed = httpx.URL(url)
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme}://{parsed.host}{port}/…"


class HttpSink:
    """POSTs gzip'd newline-separated messages, one request per metadata set and size limit."""

    def __init__(
        self,
        url: str,
        *,
        max_request_bytes: int = MAX_REQUEST_BYTES,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        max_connections: int = 4,
        compress_level: int = 6,
    ) -> None:
        parsed = httpx.URL(url)
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ValueError(f"not an http(s) destination: {redacted(url)}")
        self._url = url
        self._max_request_bytes = max_request_bytes
        self._compress_level = compress_level
        self._accepted: OrderedDict[str, None] = OrderedDict()
        self._client = httpx.Client(
            timeout=timeout,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            follow_redirects=False,
            headers={"User-Agent": "mimecast-source"},
        )

    def __repr__(self) -> str:
        return f"HttpSink({redacted(self._url)})"

    def write(self, batch: Batch) -> None:
        for part in http_parts(batch, self._max_request_bytes):
            digest = part.digest
            if digest in self._accepted:
                continue
            self._send(part)
            self._accepted[digest] = None
            if len(self._accepted) > _REMEMBERED_PARTS:
                self._accepted.popitem(last=False)

    def _send(self, part: Part) -> None:
        body = gzip.compress(part.body, compresslevel=self._compress_level, mtime=0)
        headers = [
            *part.headers,
            ("Content-Type", b"text/plain; charset=utf-8"),
            ("Content-Encoding", b"gzip"),
        ]
        self._post(body, headers)

    def _post(self, body: bytes, headers: list[tuple[str, bytes]]) -> None:
        try:
            raw_headers = [(name.encode("ascii"), value) for name, value in headers]
            response = self._client.post(self._url, content=body, headers=raw_headers)
        except httpx.TransportError as exc:
            raise unreachable(f"{type(exc).__name__}: {str(exc)[:160]}") from None
        error = status_error(response.status_code, response.reason_phrase)
        if error is not None:
            raise error

    def healthcheck(self) -> None:
        """An empty POST: hosted collectors accept it and store nothing."""
        self._post(b"", [("Content-Type", b"text/plain; charset=utf-8")])

    def close(self) -> None:
        self._client.close()

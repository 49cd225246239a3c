"""The `http` destination: any HTTP(S) endpoint that takes NDJSON, one POST per batch.

The body is the file destination's lines (`id`, `dataCollection`, `logType`, `metadata`,
`message`), gzip'd unless `gzip` is false, with the operator's headers (their values are secrets).
`Idempotency-Key` is the batch id (with `-<part>-of-<parts>` when a batch over 1 MB is split), so an
endpoint that honours the header stores a retried batch once; any other endpoint gets it at least
once, with each line's `id` to de-duplicate by. A 429 or 503 with a short `Retry-After` is waited
out inside the write; a longer one fails the write, retried later by the engine.
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable
from typing import Any

from core.sinks.contract import Batch
from core.sinks.encoding import MAX_REQUEST_BYTES, ndjson_line
from core.sinks.transport import client, send, shown, tls_context


def ndjson_bodies(batch: Batch, limit: int = MAX_REQUEST_BYTES) -> list[bytes]:
    """The batch's lines in bodies of at most `limit` bytes (a lone longer line travels alone)."""
    bodies: list[bytes] = []
    current: list[bytes] = []
    size = 0
    for message in batch.messages:
        line = ndjson_line(batch, message).encode("utf-8")
        if current and size + len(line) > limit:
            bodies.append(b"".join(current))
            current, size = [], 0
        current.append(line)
        size += len(line)
    if current:
        bodies.append(b"".join(current))
    return bodies


def idempotency_key(batch_id: str, part: int, parts: int) -> str:
    return batch_id if parts == 1 else f"{batch_id}-{part}-of-{parts}"


class EndpointSink:
    """POSTs NDJSON to one URL; the URL's path and the headers' values never appear in errors."""

    def __init__(
        self,
        name: str,
        config: dict[str, Any],
        *,
        max_request_bytes: int = MAX_REQUEST_BYTES,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.name = name
        self._url = config["url"]
        self._gzip = bool(config.get("gzip", True))
        self._limit = max_request_bytes
        self._sleep = sleep
        self._where = f"http destination {name!r} ({shown(self._url)})"
        headers = {"Content-Type": "application/x-ndjson", **(config.get("headers") or {})}
        if self._gzip:
            headers["Content-Encoding"] = "gzip"
        self._client = client(tls_context(config.get("verifyTls", True), config.get("caFile")), headers)

    def __repr__(self) -> str:
        return f"EndpointSink({self.name!r})"

    def write(self, batch: Batch) -> None:
        if not batch.messages:
            return
        bodies = ndjson_bodies(batch, self._limit)
        for part, body in enumerate(bodies, start=1):
            content = gzip.compress(body, compresslevel=6, mtime=0) if self._gzip else body
            key = idempotency_key(batch.id, part, len(bodies))
            send(
                self._where,
                lambda content=content, key=key: self._client.post(  # type: ignore[misc]
                    self._url, content=content, headers={"Idempotency-Key": key}
                ),
                sleep=self._sleep,
            )

    def healthcheck(self) -> None:
        """An empty NDJSON body: no records, so nothing is stored."""
        send(
            self._where,
            lambda: self._client.post(self._url, content=gzip.compress(b"", mtime=0) if self._gzip else b""),
            sleep=self._sleep,
        )

    def close(self) -> None:
        self._client.close()

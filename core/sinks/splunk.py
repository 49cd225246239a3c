"""Splunk HTTP Event Collector: batches as concatenated JSON events, with indexer acknowledgement.

Each record is one event: `time` (the record's own time when it has one, else now), `host`,
`source`, `sourcetype` (`mimecast:<collection>` unless configured), optional `index`, the record as
`event`, and the metadata, the record id and the batch id as indexed `fields`. With `ack`, every
request carries the destination's channel and the write returns only once the indexers
acknowledged every request of the batch. At least once: a retried batch is sent again and the
`recordId` field de-duplicates it.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx

from core.clock import Clock, SystemClock
from core.errors import FirstPartyGenericError
from core.sinks.contract import Batch, Message, misconfigured, unavailable
from core.sinks.transport import client, send, shown, tls_context

MAX_REQUEST_BYTES = 1_000_000
EVENT_PATH = "/services/collector/event"
ACK_PATH = "/services/collector/ack"
HEALTH_PATH = "/services/collector/health"
_TIME_FIELDS = ("timestamp", "datetime", "dateTime", "eventTime", "time", "date")
_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def event_time(record: dict[str, Any], fallback: float) -> float:
    """The record's own time as epoch seconds (an ISO 8601 string or epoch milliseconds)."""
    for name in _TIME_FIELDS:
        value = record.get(name)
        if isinstance(value, str):
            try:
                moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                continue
            if moment.tzinfo is not None:
                return round(moment.timestamp(), 3)
        elif isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            return round(value / 1000 if value > 10**11 else float(value), 3)
    return round(fallback, 3)


def hec_event(batch: Batch, message: Message, config: dict[str, Any], now: float) -> str:
    """One event of the HEC JSON protocol, the record embedded as its own JSON text."""
    record = json.loads(message.text)
    meta = dict(message.metadata)
    head: dict[str, Any] = {
        "time": event_time(record, now) if isinstance(record, dict) else now,
        "host": config.get("host") or meta.get("_collector") or batch.collector,
        "source": config.get("source") or meta.get("_source") or batch.source,
        "sourcetype": config.get("sourcetype") or f"mimecast:{batch.collection}",
    }
    if config.get("index"):
        head["index"] = config["index"]
    fields = {**meta, "recordId": message.id, "batchId": batch.id, "logType": message.log_type}
    # The record goes in as its own text: no parse-and-dump round trip changes a byte of it.
    return f'{_json(head)[:-1]},"event":{message.text},"fields":{_json(fields)}}}'


def hec_bodies(
    batch: Batch, config: dict[str, Any], now: float, limit: int = MAX_REQUEST_BYTES
) -> list[bytes]:
    """The batch as request bodies of at most `limit` bytes (a lone larger event travels alone)."""
    bodies: list[bytes] = []
    current: list[bytes] = []
    size = 0
    for message in batch.messages:
        event = hec_event(batch, message, config, now).encode("utf-8")
        if current and size + len(event) > limit:
            bodies.append(b"".join(current))
            current, size = [], 0
        current.append(event)
        size += len(event)
    if current:
        bodies.append(b"".join(current))
    return bodies


class SplunkHecSink:
    """Writes to one HEC endpoint; `name` (the destination's) appears in errors, the token never."""

    def __init__(
        self,
        name: str,
        config: dict[str, Any],
        *,
        clock: Clock | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.name = name
        self._config = config
        base = config["url"].rstrip("/")
        self._base = base.split("/services/collector", 1)[0]
        self._where = f"splunkHec destination {name!r} ({shown(self._base)})"
        self._clock = clock or SystemClock()
        self._sleep = sleep
        self._channel = str(uuid.uuid4())
        headers = {"Authorization": f"Splunk {config['token']}"}
        if config.get("ack"):
            headers["X-Splunk-Request-Channel"] = self._channel
        self._client = client(tls_context(config.get("verifyTls", True), config.get("caFile")), headers)

    def __repr__(self) -> str:
        return f"SplunkHecSink({self.name!r})"

    def write(self, batch: Batch) -> None:
        if not batch.messages:
            return
        now = self._clock.now().timestamp()
        acks: list[int] = []
        for body in hec_bodies(batch, self._config, now):
            response = send(
                self._where,
                lambda body=body: self._client.post(self._base + EVENT_PATH, content=body),  # type: ignore[misc]
                sleep=self._sleep,
                refused=self._refused,
            )
            if self._config.get("ack"):
                acks.append(self._ack_id(response))
        if acks:
            self._await_acks(acks)

    def _ack_id(self, response: httpx.Response) -> int:
        try:
            ack = response.json()["ackId"]
        except (ValueError, KeyError, TypeError):
            raise misconfigured(
                f"{self._where}: ack is on but the answer has no ackId; enable indexer acknowledgement "
                "on the token, or set ack to false"
            ) from None
        if not isinstance(ack, int):
            raise misconfigured(f"{self._where}: ackId {ack!r} is not a number")
        return ack

    def _await_acks(self, waiting: list[int]) -> None:
        deadline = time.monotonic() + float(self._config.get("ackTimeoutSeconds", 60.0))
        pause = 0.2
        pending = set(waiting)
        while pending:
            asked = _json({"acks": sorted(pending)})
            response = send(
                self._where,
                lambda: self._client.post(
                    self._base + ACK_PATH,
                    params={"channel": self._channel},
                    content=asked,  # noqa: B023 (called at once, inside this iteration)
                ),
                sleep=self._sleep,
                refused=self._refused,
            )
            try:
                answered = response.json()["acks"]
                pending -= {int(ack) for ack, done in answered.items() if done is True}
            except (ValueError, KeyError, TypeError, AttributeError):
                raise unavailable(f"{self._where}: unreadable acknowledgement answer") from None
            if not pending:
                return
            if time.monotonic() >= deadline:
                raise unavailable(
                    f"{self._where}: {len(pending)} request(s) not acknowledged by the indexers in time"
                )
            self._sleep(pause)
            pause = min(pause * 2, 2.0)

    def _refused(self, response: httpx.Response) -> FirstPartyGenericError | None:
        """HEC's configuration refusals: a missing, invalid or disabled token; acks not enabled."""
        code = _hec_code(response)
        if response.status_code in (401, 403):
            return misconfigured(
                f"{self._where} refused the token (HTTP {response.status_code}, HEC code {code}): "
                "check config.token and that the token is enabled",
                response.status_code,
            )
        if response.status_code == 400 and code in (10, 11):
            return misconfigured(
                f"{self._where}: indexer acknowledgement is {'off' if code == 11 else 'on'} on the "
                f"token (HEC code {code}); set config.ack to match",
                400,
            )
        if response.status_code == 400 and code == 7:
            return misconfigured(f"{self._where}: index {self._config.get('index')!r} is not allowed", 400)
        return None

    def healthcheck(self) -> None:
        send(self._where, lambda: self._client.get(self._base + HEALTH_PATH), sleep=self._sleep)

    def close(self) -> None:
        self._client.close()


def _hec_code(response: httpx.Response) -> int | None:
    try:
        code = response.json().get("code")
    except (ValueError, AttributeError):
        return None
    return code if isinstance(code, int) else None

"""In-memory models of the Mimecast endpoints, for driving the pure paging step in property tests.

They fake Mimecast, not our code, and they are deliberately unkind: page sizes of their own
choosing, every reading of a window's bounds, newest-first order, events repeated at page
boundaries, a placeholder `next` on an empty last page, a hold list that ignores its window,
late records, batch listings that repeat URLs, URLs that expire, files that vanish.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

from core.mimecast.records import parse_time
from core.mimecast.streams import PagingKind, StreamSpec
from core.models import Request

T0 = datetime(2024, 6, 1, tzinfo=UTC)


class Bounds(Enum):
    """How an endpoint reads `[from, to)`; which one Mimecast uses is not documented."""

    HALF_OPEN = "[from, to)"
    CLOSED = "[from, to]"
    OPEN_LEFT = "(from, to]"
    OPEN = "(from, to)"

    def holds(self, time: datetime, start: datetime, end: datetime) -> bool:
        if self is Bounds.HALF_OPEN:
            return start <= time < end
        if self is Bounds.CLOSED:
            return start <= time <= end
        if self is Bounds.OPEN_LEFT:
            return start < time <= end
        return start < time < end


@dataclass
class Item:
    """One record the endpoint will serve: from `visible` on, until `released` (hold list only)."""

    raw: dict[str, Any]
    time: datetime
    visible: datetime
    released: datetime | None = None


@dataclass
class Behaviour:
    page_size: int
    bounds: Bounds
    newest_first: bool = False
    repeat_at_boundary: int = 0
    placeholder_end: bool = False
    ignores_window: bool = False


def make_raw(spec: StreamSpec, n: int, time: datetime) -> dict[str, Any]:
    """A record of the spec's collection, unique by n, whose event time is `time`."""
    api_time = time.strftime("%Y-%m-%dT%H:%M:%S+0000")
    if spec.paging is PagingKind.STREAMING:
        millis = int(time.timestamp() * 1000)
        return {"timestamp": millis, "eventType": "receipt", "processingId": f"p{n}", "accountId": "C0A0"}
    if spec.name == "dlp":
        return {
            "senderAddress": "a@corp.example",
            "messageId": f"<m{n}@x>",
            "eventTime": api_time,
            "action": "block",
        }
    if spec.name == "auditEvent":
        return {"id": f"eNoA{n}", "auditType": "User Logged On", "eventTime": api_time}
    return {"id": f"eNpV{n}", "subject": f"held {n}", "dateReceived": api_time, "size": n}


class WindowedEndpoint:
    """DLP, audit, hold list or SIEM streaming. Page tokens name a snapshot and an offset."""

    def __init__(self, spec: StreamSpec, items: list[Item], behaviour: Behaviour) -> None:
        self.spec = spec
        self.items = items
        self.behaviour = behaviour
        self.snapshots: list[list[dict[str, Any]]] = []
        self.calls = 0

    def _window(self, request: Request) -> tuple[datetime, datetime, str | None]:
        first, last = self.spec.window_fields
        if self.spec.paging is PagingKind.STREAMING:
            params = dict(request.params)
            start, end, token = params[first], params[last], params.get("nextPage")
        else:
            assert request.body is not None
            data = request.body["data"][0]
            start, end = data[first], data[last]
            token = request.body["meta"]["pagination"].get("pageToken")
        parsed_start, parsed_end = parse_time(start), parse_time(end)
        assert parsed_start is not None
        assert parsed_end is not None
        return parsed_start, parsed_end, token

    def _listing(self, start: datetime, end: datetime, now: datetime) -> list[dict[str, Any]]:
        served = [
            item
            for item in self.items
            if item.visible <= now
            and (item.released is None or item.released > now)
            and (self.behaviour.ignores_window or self.behaviour.bounds.holds(item.time, start, end))
        ]
        served.sort(key=lambda item: (item.time, json.dumps(item.raw, sort_keys=True)))
        if self.behaviour.newest_first:
            served.reverse()
        return [item.raw for item in served]

    def answer(self, request: Request, now: datetime) -> dict[str, Any]:
        self.calls += 1
        start, end, token = self._window(request)
        if token is None:
            self.snapshots.append(self._listing(start, end, now))
            snapshot, offset = len(self.snapshots) - 1, 0
        elif token.startswith("placeholder"):
            # Mimecast's last page can carry a `next` with no data behind it (spec 3.2).
            return self._body([], f"placeholder-again{self.calls}", caught_up=False)
        else:
            snapshot_text, offset_text = token.removeprefix("eNq").split(".")
            snapshot, offset = int(snapshot_text), int(offset_text)
        listing = self.snapshots[snapshot]
        size = self.behaviour.page_size
        page = listing[offset : offset + size]
        following = offset + size
        next_token: str | None = None
        if following < len(listing):
            next_token = f"eNq{snapshot}.{max(following - self.behaviour.repeat_at_boundary, offset + 1)}"
        elif self.behaviour.placeholder_end and page:
            next_token = f"placeholder{self.calls}"
        return self._body(page, next_token, caught_up=following >= len(listing))

    def _body(self, page: list[dict[str, Any]], next_token: str | None, caught_up: bool) -> dict[str, Any]:
        if self.spec.paging is PagingKind.STREAMING:
            body: dict[str, Any] = {"value": page, "isCaughtUp": caught_up and next_token is None}
            if next_token is not None:
                body["@nextPage"] = next_token
            return body
        pagination: dict[str, Any] = {"pageSize": len(page), "totalCount": 0}
        if next_token is not None:
            pagination["next"] = next_token
        data: list[Any] = [{"dlpLogs": page}] if self.spec.nested_records else page
        return {"meta": {"status": 200, "pagination": pagination}, "data": data, "fail": []}


@dataclass
class BatchFileModel:
    name: str
    published: datetime
    lines: list[bytes]
    expires_once: bool = False
    gone_forever: bool = False

    @property
    def key(self) -> str:
        return f"https://bucket.s3.example/siem/{self.name}.gz"


class BatchEndpoint:
    """The SIEM batch listing and its pre-signed files. `@nextPage` is a position, always returned."""

    def __init__(self, files: list[BatchFileModel], page_size: int, repeat_urls: bool) -> None:
        self.files = files
        self.page_size = page_size
        self.repeat_urls = repeat_urls
        self.listings = 0
        self.first_signature: dict[str, str] = {}

    def listing(self, request: Request, now: datetime) -> dict[str, Any]:
        self.listings += 1
        params = dict(request.params)
        position = int(params["nextPage"].removeprefix("pos")) if "nextPage" in params else 0
        published = [file for file in self.files if file.published <= now]
        chosen = published[position : position + self.page_size]
        for file in chosen:
            self.first_signature.setdefault(file.name, str(self.listings))
        value = [{"url": f"{file.key}?sig={self.listings}", "size": 1, "expiry": "2999-01-01T00:00:00.000Z"}
                 for file in chosen]  # fmt: skip
        if self.repeat_urls and value:
            value.append(dict(value[0]))
        following = position + len(chosen)
        return {"value": value, "@nextPage": f"pos{following}", "isCaughtUp": following >= len(published)}

    def download(self, url: str) -> bytes | None:
        """The gzip bytes behind a URL, or None for a 403/404."""
        key, _, signature = url.partition("?sig=")
        file = next(file for file in self.files if file.key == key)
        if file.gone_forever:
            return None
        if file.expires_once and signature == self.first_signature[file.name]:
            return None
        return gzip.compress(b"\n".join(file.lines) + b"\n")


def seconds(n: float) -> timedelta:
    return timedelta(seconds=n)

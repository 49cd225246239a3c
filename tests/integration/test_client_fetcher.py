"""The Fetcher over HTTP: pages of every collection, chained cursors, faults, resume from a cursor.

Mimecast is one fake behind httpx.MockTransport; the client, the token flow, paging and the
batch-file reader are the real ones.
"""

from __future__ import annotations

import gzip
import json
import threading
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from core.clock import ManualClock
from core.engine.decisions import take
from core.errors import RateLimited
from core.mimecast.auth import MemoryTokenCache, Session, TokenFlow
from core.mimecast.batchfiles import BatchFileReader
from core.mimecast.client import MimecastClient
from core.mimecast.fetcher import Fetcher
from core.mimecast.streams import AUDIT, DLP, HOLD, SIEM_BATCH, SIEM_STREAMING
from core.mimecast.windows import initial_cursor
from core.models import BatchCursor, Credentials, Cursor, Page, WindowCursor, cursor_from_json, cursor_to_json

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
CREDENTIALS = Credentials("app-id", "app-secret")
S3 = "https://bucket.s3.example"


def at(minutes: int) -> str:
    return (NOW - timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S+0000")


def ndjson_gz(lines: list[bytes]) -> bytes:
    return gzip.compress(b"\n".join(lines) + b"\n")


def siem_line(offset: int) -> bytes:
    return json.dumps({"_partition": 1, "_offset": offset, "type": "process", "accountId": "C0A0"}).encode()


class FakeMimecast:
    """Just enough Mimecast: tokens, the /api envelope, SIEM streaming, batch listings and files."""

    def __init__(self) -> None:
        self.tokens = 0
        self.calls: Counter[str] = Counter()
        self.reject_token_once: str | None = None  # page token whose first request gets a 401
        self.throttle_once: str | None = None  # page token whose first request gets a 429
        self.api: dict[str, list[dict[str, Any]]] = {
            DLP.path: [
                {"senderAddress": f"s{n}@x", "eventTime": at(50 - n), "action": "block"} for n in range(5)
            ],
            AUDIT.path: [{"id": f"a{n}", "auditType": "Logon", "eventTime": at(n + 10)} for n in range(5)],
            HOLD.path: [{"id": f"h{n}", "dateReceived": at(40), "subject": "held"} for n in range(3)],
        }
        self.events = [
            {"timestamp": int(NOW.timestamp() * 1000) - 1_500_000 + n, "eventType": "av"} for n in range(7)
        ]
        self.files = {
            "f1": ndjson_gz([siem_line(n) for n in range(5)]),
            "f2": ndjson_gz([siem_line(10), b"{not json", siem_line(11)]),
            "gone": ndjson_gz([siem_line(99)]),
        }
        self.signatures: Counter[str] = Counter()
        self.expire_first_url_of = {"f2"}
        self.asked: dict[str | None, threading.Event] = defaultdict(threading.Event)  # by page token
        self.hang: dict[tuple[str, str], threading.Event] = {}  # (path, page token): answered once set

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.calls[path] += 1
        if path == "/oauth/token":
            self.tokens += 1
            return httpx.Response(200, json={"access_token": f"token-{self.tokens}", "expires_in": 1799})
        if request.url.host == "bucket.s3.example":
            return self.file(request)
        assert "authorization" in request.headers
        if path in self.api:
            return self.envelope(request, self.api[path])
        if path == SIEM_STREAMING.path:
            return self.streaming(request)
        if path == SIEM_BATCH.path:
            return self.listing(request)
        return httpx.Response(404)

    def envelope(self, request: httpx.Request, records: list[dict[str, Any]]) -> httpx.Response:
        token = json.loads(request.content)["meta"]["pagination"].get("pageToken")
        self.asked[token].set()
        held = self.hang.get((request.url.path, token or ""))
        if held is not None:
            held.wait(10)
        if (
            token is not None
            and token == self.reject_token_once
            and request.headers["authorization"] == "Bearer token-1"
        ):
            return httpx.Response(401, json={"fail": [{"code": "token_expired", "message": "expired"}]})
        if token is not None and token == self.throttle_once:
            self.throttle_once = None
            return httpx.Response(429, headers={"X-RateLimit-Reset": "1000"})
        offset = int(token.removeprefix("eNq")) if token else 0
        page = records[offset : offset + 2]
        pagination: dict[str, Any] = {"pageSize": 2}
        if offset + 2 < len(records):
            pagination["next"] = f"eNq{offset + 2}"
        data: list[Any] = [{"dlpLogs": page}] if request.url.path == DLP.path else page
        return httpx.Response(
            200, json={"meta": {"status": 200, "pagination": pagination}, "data": data, "fail": []}
        )

    def streaming(self, request: httpx.Request) -> httpx.Response:
        token = request.url.params.get("nextPage")
        offset = int(token) if token else 0
        page = self.events[max(offset - 1, 0) : offset + 3]  # repeats the previous page's last event
        following = offset + 3
        body: dict[str, Any] = {"value": page, "isCaughtUp": following >= len(self.events)}
        body["@nextPage"] = str(following)
        return httpx.Response(200, json=body)

    def listing(self, request: httpx.Request) -> httpx.Response:
        names = ["f1", "f2", "f1", "gone"] if "nextPage" not in request.url.params else []
        value = []
        for name in names:
            self.signatures[name] += 1
            value.append({"url": f"{S3}/siem/{name}.gz?sig={self.signatures[name]}", "size": 10})
        return httpx.Response(200, json={"value": value, "@nextPage": "NDU1NA==", "isCaughtUp": True})

    def file(self, request: httpx.Request) -> httpx.Response:
        name = request.url.path.removeprefix("/siem/").removesuffix(".gz")
        assert "authorization" not in request.headers
        if name == "gone":
            return httpx.Response(404, content=b"<Error><Code>NoSuchKey</Code></Error>")
        if name in self.expire_first_url_of and request.url.params["sig"] == "1":
            return httpx.Response(403, content=b"<Error><Code>AccessDenied</Code></Error>")
        return httpx.Response(200, content=self.files[name])


@pytest.fixture
def mimecast() -> FakeMimecast:
    return FakeMimecast()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


def fetcher_for(mimecast: FakeMimecast, clock: ManualClock, chunk_records: int = 2) -> Fetcher:
    client = MimecastClient(
        "https://api.services.mimecast.com", clock, transport=httpx.MockTransport(mimecast)
    )
    session = Session(client, TokenFlow(MemoryTokenCache(clock), client.request_token, clock), CREDENTIALS)
    return Fetcher(session, BatchFileReader(client, max_records=chunk_records), clock)


def committed_pages(pages: Iterator[Page], start: Cursor) -> list[Page]:
    """Take pages as a forward task would: each must start where the previous one ended."""
    taken: list[Page] = []
    for page in pages:
        assert page.start == (taken[-1].end if taken else start)
        assert cursor_from_json(json.loads(json.dumps(cursor_to_json(page.end)))) == page.end
        taken.append(page)
    assert taken[-1].finished
    assert all(not page.finished for page in taken[:-1])
    return taken


def ids(pages: list[Page]) -> list[str]:
    return [record.id for page in pages for record in page.records]


def test_dlp_pages_through_its_window_and_then_is_not_due(mimecast: FakeMimecast, clock: ManualClock) -> None:
    fetcher = fetcher_for(mimecast, clock)
    start = initial_cursor(DLP, NOW, since=NOW - timedelta(hours=1))
    pages = committed_pages(fetcher.pages(DLP, start), start)
    assert len(pages) == 3
    assert len(set(ids(pages))) == 5
    assert all(
        record.collection == "dlp" and record.kind == "dlp" for page in pages for record in page.records
    )
    end = pages[-1].end
    assert isinstance(end, WindowCursor)
    assert (end.start, end.end, end.page_token) == (NOW - DLP.lag - DLP.overlap, None, None)
    assert list(fetcher.pages(DLP, end)) == []  # the next window is not due yet
    assert mimecast.calls["/oauth/token"] == 1


def test_an_expired_token_on_a_later_page_is_refreshed_and_nothing_is_lost(
    mimecast: FakeMimecast, clock: ManualClock
) -> None:
    mimecast.reject_token_once = "eNq2"
    start = initial_cursor(AUDIT, NOW, since=NOW - timedelta(hours=1))
    pages = committed_pages(fetcher_for(mimecast, clock).pages(AUDIT, start), start)
    assert ids(pages) == ["a0", "a1", "a2", "a3", "a4"]  # newest first, all of them
    assert mimecast.tokens == 2


def test_after_a_429_the_stream_resumes_from_the_last_committed_page(
    mimecast: FakeMimecast, clock: ManualClock
) -> None:
    # Given Mimecast throttles the third page once
    mimecast.throttle_once = "eNq4"
    start = initial_cursor(AUDIT, NOW, since=NOW - timedelta(hours=1))
    taken: list[Page] = []
    pages = fetcher_for(mimecast, clock).pages(AUDIT, start)
    taken.extend([next(pages), next(pages)])
    with pytest.raises(RateLimited) as raised:
        next(pages)
    assert raised.value.wait_seconds == 1.0
    # When a new worker resumes from the last committed cursor
    clock.advance(raised.value.wait_seconds)
    rest = committed_pages(fetcher_for(mimecast, clock).pages(AUDIT, taken[-1].end), taken[-1].end)
    # Then every event came out once
    assert ids(taken) + ids(rest) == ["a0", "a1", "a2", "a3", "a4"]


def test_the_next_page_of_a_window_is_asked_for_while_this_one_is_worked_on(
    mimecast: FakeMimecast, clock: ManualClock
) -> None:
    start = initial_cursor(DLP, NOW, since=NOW - timedelta(hours=1))
    pages = fetcher_for(mimecast, clock).pages(DLP, start, want=100)
    first = next(pages)
    # Page two is on its way before anyone asks for it (a thread of this process sends it) ...
    assert mimecast.asked["eNq2"].wait(timeout=10), "the second page was not read ahead"
    rest = committed_pages(pages, first.end)
    # ... and every page is asked for once, and gives what it gives without reading ahead.
    assert ids([first, *rest]) == ids(
        committed_pages(fetcher_for(FakeMimecast(), clock).pages(DLP, start), start)
    )
    assert mimecast.calls[DLP.path] == 3


def test_a_thread_reading_ahead_does_not_wait_behind_another_threads_page(
    mimecast: FakeMimecast, clock: ManualClock
) -> None:
    # Under Celery's threads pool several fetches run in one process at once: a page read ahead for
    # one of them that Mimecast is slow to answer must not hold back another's.
    slow = mimecast.hang[(DLP.path, "eNq2")] = threading.Event()
    dlp = fetcher_for(mimecast, clock).pages(
        DLP, initial_cursor(DLP, NOW, since=NOW - timedelta(hours=1)), 100
    )
    try:
        next(dlp)
        assert mimecast.asked["eNq2"].wait(timeout=10)  # DLP's second page: asked, not answered
        audit_start = initial_cursor(AUDIT, NOW, since=NOW - timedelta(hours=1))
        read: list[list[str]] = []
        other = threading.Thread(
            target=lambda: read.append(
                ids(committed_pages(fetcher_for(mimecast, clock).pages(AUDIT, audit_start, 100), audit_start))
            )
        )
        other.start()
        other.join(timeout=5)
        finished = not other.is_alive()
    finally:
        slow.set()
        dlp.close()
    assert finished, "the audit pages waited for the DLP page read ahead by another thread"
    assert read == [["a0", "a1", "a2", "a3", "a4"]]


@pytest.mark.parametrize(("limit", "asked"), [(2, 1), (3, 2), (4, 2), (5, 3)])
def test_no_page_is_read_ahead_past_the_records_the_reader_takes(
    mimecast: FakeMimecast, clock: ManualClock, limit: int, asked: int
) -> None:
    # Pages of two records: a batch of `limit` records needs ceil(limit / 2) pages, and no more is
    # asked for (a page read ahead for nothing would be a call spent against the rate budget).
    start = initial_cursor(DLP, NOW, since=NOW - timedelta(hours=1))
    pages = fetcher_for(mimecast, clock).pages(DLP, start, want=limit)
    try:
        batch = take(pages, limit)
    finally:
        pages.close()
    assert batch is not None
    assert len(batch.records) == min(2 * asked, 5)
    assert mimecast.calls[DLP.path] == asked


def test_a_page_read_ahead_that_fails_raises_where_the_call_would_have(
    mimecast: FakeMimecast, clock: ManualClock
) -> None:
    mimecast.throttle_once = "eNq4"
    start = initial_cursor(AUDIT, NOW, since=NOW - timedelta(hours=1))
    pages = fetcher_for(mimecast, clock).pages(AUDIT, start, want=100)
    taken = [next(pages), next(pages)]
    with pytest.raises(RateLimited):
        next(pages)
    assert ids(taken) == ["a0", "a1", "a2", "a3"]


def test_a_held_message_still_listed_at_the_next_poll_is_not_forwarded_again(
    mimecast: FakeMimecast, clock: ManualClock
) -> None:
    fetcher = fetcher_for(mimecast, clock)
    start = initial_cursor(HOLD, NOW, since=NOW - timedelta(hours=1))
    first = committed_pages(fetcher.pages(HOLD, start), start)
    mimecast.api[HOLD.path].append({"id": "h9", "dateReceived": at(2), "subject": "new"})
    clock.advance(600)
    second = committed_pages(fetcher.pages(HOLD, first[-1].end), first[-1].end)
    assert ids(first) == ["h0", "h1", "h2"]
    assert ids(second) == ["h9"]


def test_streamed_siem_events_repeated_across_pages_come_out_once(
    mimecast: FakeMimecast, clock: ManualClock
) -> None:
    start = initial_cursor(SIEM_STREAMING, NOW, since=NOW - timedelta(hours=1))
    pages = committed_pages(fetcher_for(mimecast, clock).pages(SIEM_STREAMING, start), start)
    assert [record.raw for page in pages for record in page.records] == mimecast.events
    assert {record.kind for page in pages for record in page.records} == {"av"}


def test_a_streaming_window_beyond_the_24_hours_is_moved_and_reported_as_a_gap(
    mimecast: FakeMimecast, clock: ManualClock
) -> None:
    stale = WindowCursor(start=NOW - timedelta(days=2))
    pages = list(fetcher_for(mimecast, clock).pages(SIEM_STREAMING, stale))
    assert pages[0].gaps
    assert "siem-streaming" in pages[0].gaps[0].what


def test_siem_batch_files_are_read_in_chunks_with_each_url_once_and_a_vanished_file_as_a_gap(
    mimecast: FakeMimecast, clock: ManualClock
) -> None:
    # Given a listing that repeats f1, whose f2 URL has expired and whose last file is gone
    start = initial_cursor(SIEM_BATCH, NOW)
    pages = committed_pages(fetcher_for(mimecast, clock, chunk_records=2).pages(SIEM_BATCH, start), start)
    offsets = [record.raw["_offset"] for page in pages for record in page.records]
    # Then every line came out once, in order; the bad line is quarantined with its position
    assert offsets == [0, 1, 2, 3, 4, 10, 11]
    assert [(q.source, q.position) for page in pages for q in page.quarantined] == [(f"{S3}/siem/f2.gz", 2)]
    # And the vanished file is a gap, after one fresh listing; f2 needed one too
    assert [gap.what for page in pages for gap in page.gaps] == [f"SIEM batch file {S3}/siem/gone.gz"]
    assert mimecast.calls[SIEM_BATCH.path] == 3
    end = pages[-1].end
    assert end == BatchCursor(token="NDU1NA==", caught_up=True)


def test_a_new_worker_resumes_inside_a_batch_file_at_the_committed_line(
    mimecast: FakeMimecast, clock: ManualClock
) -> None:
    # Given the first chunk of f1 was committed by a worker that then died
    start = initial_cursor(SIEM_BATCH, NOW)
    first = next(fetcher_for(mimecast, clock, chunk_records=2).pages(SIEM_BATCH, start))
    assert isinstance(first.end, BatchCursor)
    assert (first.end.file_index, first.end.line) == (0, 2)
    # When another worker (with no listing cached) carries on from the stored cursor
    resumed = cursor_from_json(json.loads(json.dumps(cursor_to_json(first.end))))
    rest = committed_pages(fetcher_for(mimecast, clock, chunk_records=2).pages(SIEM_BATCH, resumed), resumed)
    # Then it lists again for fresh URLs and goes on from line 2
    offsets = [record.raw["_offset"] for page in [first, *rest] for record in page.records]
    assert offsets == [0, 1, 2, 3, 4, 10, 11]


def test_a_file_read_in_many_chunks_is_listed_once(mimecast: FakeMimecast, clock: ManualClock) -> None:
    mimecast.expire_first_url_of = set()
    mimecast.files["gone"] = ndjson_gz([siem_line(n) for n in range(100, 120)])
    mimecast.file = _serve_all(mimecast)  # type: ignore[method-assign]
    start = initial_cursor(SIEM_BATCH, NOW)
    pages = committed_pages(fetcher_for(mimecast, clock, chunk_records=3).pages(SIEM_BATCH, start), start)
    assert len(pages) > 5
    assert mimecast.calls[SIEM_BATCH.path] == 1


def _serve_all(mimecast: FakeMimecast) -> Any:
    def serve(request: httpx.Request) -> httpx.Response:
        name = request.url.path.removeprefix("/siem/").removesuffix(".gz")
        return httpx.Response(200, content=mimecast.files[name])

    return serve


def test_an_empty_caught_up_listing_is_one_finished_page_that_keeps_the_new_next_page(
    mimecast: FakeMimecast, clock: ManualClock
) -> None:
    cursor = BatchCursor(token="T0", caught_up=True)
    (page,) = fetcher_for(mimecast, clock).pages(SIEM_BATCH, cursor)
    assert page.records == ()
    assert page.finished
    assert page.end == replace(cursor, token="NDU1NA==")

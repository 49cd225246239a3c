"""Pages of a stream, read from Mimecast: the glue between the session, the file reader and paging.

It decides nothing itself (paging and windows do): it opens the window, sends the request, applies
the step, and yields a `Page` per request or per batch-file chunk. Each page's `start` is the
previous page's `end`, so a caller commits `end` after delivering the records and may stop
after any page. SIEM batch listings are cached so that reading a file in many chunks, possibly
in many tasks, does not list again; an expired or missing file is listed again once for a fresh
URL, and if it is still gone it is reported as a gap and skipped.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import threading
from collections import OrderedDict
from collections.abc import Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Protocol

from core.clock import Clock
from core.errors import FileGone
from core.mimecast import paging, windows
from core.mimecast.auth import Session
from core.mimecast.batchfiles import BatchFileReader
from core.mimecast.records import parse_time
from core.mimecast.streams import PagingKind, StreamSpec
from core.models import BatchCursor, BatchFile, Cursor, Gap, JsonObject, Page, Request, WindowCursor

URL_EXPIRY_MARGIN = timedelta(seconds=30)


class ListingCache(Protocol):
    """SIEM batch listings by (credential, stream, token): file key -> file with its signed URL."""

    def get(self, key: str) -> dict[str, BatchFile] | None: ...

    def put(self, key: str, files: dict[str, BatchFile]) -> None: ...


class MemoryListingCache:
    """A small per-process LRU of listings; a listing is a few kilobytes."""

    def __init__(self, size: int = 16) -> None:
        self._size = size
        self._listings: OrderedDict[str, dict[str, BatchFile]] = OrderedDict()
        self._mutex = threading.Lock()

    def get(self, key: str) -> dict[str, BatchFile] | None:
        with self._mutex:
            found = self._listings.get(key)
            if found is not None:
                self._listings.move_to_end(key)
            return found

    def put(self, key: str, files: dict[str, BatchFile]) -> None:
        with self._mutex:
            self._listings[key] = files
            self._listings.move_to_end(key)
            while len(self._listings) > self._size:
                self._listings.popitem(last=False)


class TieredListingCache:
    """This process's LRU in front of a shared cache: a worker reading the files of one listing asks
    the shared cache once, not once per file. A stale URL is caught by its expiry, or by the 403 it
    earns, and listed again, as with any cache."""

    def __init__(self, near: ListingCache, far: ListingCache) -> None:
        self._near = near
        self._far = far

    def get(self, key: str) -> dict[str, BatchFile] | None:
        found = self._near.get(key)
        if found is None:
            found = self._far.get(key)
            if found is not None:
                self._near.put(key, found)
        return found

    def put(self, key: str, files: dict[str, BatchFile]) -> None:
        self._near.put(key, files)
        self._far.put(key, files)


class Fetcher:
    """Reads one credential's streams page by page."""

    def __init__(
        self,
        session: Session,
        files: BatchFileReader,
        clock: Clock,
        *,
        listings: ListingCache | None = None,
    ) -> None:
        self._session = session
        self._files = files
        self._clock = clock
        self._listings = listings if listings is not None else MemoryListingCache()

    def pages(self, spec: StreamSpec, cursor: Cursor, want: int = 0) -> Generator[Page, None, None]:
        """Pages from `cursor` until the stream has nothing more right now; empty when not due.

        A caller that stops early closes the iterator (`contextlib.closing`), which closes an
        open batch-file download at once. `want`: the records the caller takes before it stops
        (0: unknown); while a window's pages stay under it, the next page is asked for while this
        one is worked on (`paging.read_ahead`), so Mimecast builds it meanwhile.
        """
        if spec.paging is PagingKind.BATCH:
            if not isinstance(cursor, BatchCursor):
                raise TypeError(f"{spec.name} reads from a BatchCursor")
            return self._batch_pages(spec, cursor)
        if not isinstance(cursor, WindowCursor):
            raise TypeError(f"{spec.name} reads from a WindowCursor")
        return self._window_pages(spec, cursor, want)

    def listing(self, spec: StreamSpec, cursor: BatchCursor) -> paging.Listing:
        """One SIEM batch listing page from `cursor`; its signed URLs are cached for the readers."""
        return self._list(spec, cursor)

    def _window_pages(self, spec: StreamSpec, cursor: WindowCursor, want: int) -> Generator[Page, None, None]:
        ahead: tuple[Request, Future[JsonObject]] | None = None
        handed = 0
        try:
            while True:
                opened = windows.open_window(spec, cursor, self._clock.now())
                if opened is None:
                    return
                window, gap = opened
                body = self._answer(paging.window_request(spec, window), ahead)
                ahead = None
                following = paging.read_ahead(spec, window, body, handed, want) if want else None
                if following is not None:
                    call = contextvars.copy_context().run
                    ahead = (following, _reader().submit(call, self._session.call, following))
                step = paging.step(spec, window, body)
                finished = step.finished and not windows.is_due(spec, step.cursor, self._clock.now())
                gaps = (gap,) if gap is not None else ()
                handed += len(step.records)
                yield Page(spec.name, step.records, cursor, step.cursor, finished, step.quarantined, gaps)
                if finished:
                    return
                cursor = step.cursor
        finally:
            if ahead is not None:  # only when the reader stopped on an error: wait, drop the answer
                _settle(ahead[1])

    def _answer(self, request: Request, ahead: tuple[Request, Future[JsonObject]] | None) -> JsonObject:
        """The answer to `request`: the one read ahead if it was this request (its error, if it
        failed, is raised here, where the call would have raised it), else asked now."""
        if ahead is not None:
            if ahead[0] == request:
                return ahead[1].result()
            _settle(ahead[1])
        return self._session.call(request)

    def _batch_pages(self, spec: StreamSpec, cursor: BatchCursor) -> Generator[Page, None, None]:
        committed = reading = cursor
        while True:
            if not reading.files:
                listing = self._list(spec, reading)
                reading = listing.cursor
                if not listing.files:
                    yield Page(spec.name, (), committed, reading, finished=True)
                    return
            for page in self._file_pages(spec, committed, reading):
                yield page
                assert isinstance(page.end, BatchCursor)
                committed = reading = page.end
            if paging.batch_finished(reading):
                return

    def _file_pages(self, spec: StreamSpec, committed: Cursor, reading: BatchCursor) -> Iterator[Page]:
        """The chunks of the file `reading` points at; a gap page if it stays gone."""
        key = reading.reading
        assert key is not None
        for attempt in range(2):
            file = self._file(spec, reading, key, relist=attempt > 0)
            if file is None:
                break
            try:
                for chunk in self._files.read(spec, file, reading.line):
                    end = paging.file_read(reading, chunk.line, chunk.eof)
                    finished = chunk.eof and paging.batch_finished(end)
                    records = paging.in_bounds(spec, chunk.records, reading)
                    yield Page(spec.name, records, committed, end, finished, chunk.quarantined)
                    committed = reading = end
                return
            except FileGone:
                continue
        end = paging.file_done(reading)
        gap = Gap(
            what=f"SIEM batch file {key}",
            reason="the file URL expired or is missing, even after a new listing",
        )
        yield Page(spec.name, (), committed, end, paging.batch_finished(end), gaps=(gap,))

    def _cache_key(self, spec: StreamSpec, cursor: BatchCursor) -> str:
        origin = cursor.token or (cursor.start_date.isoformat() if cursor.start_date else "")
        return f"{self._session.credentials.key}:{spec.name}:{origin}"

    def _list(self, spec: StreamSpec, cursor: BatchCursor) -> paging.Listing:
        listing = paging.listed(spec, cursor, self._session.call(paging.listing_request(spec, cursor)))
        if listing.files:
            self._listings.put(self._cache_key(spec, cursor), {file.key: file for file in listing.files})
        return listing

    def _file(self, spec: StreamSpec, cursor: BatchCursor, key: str, *, relist: bool) -> BatchFile | None:
        """The file's signed URL: from the cached listing unless stale, else from a new listing."""
        cached = None if relist else self._listings.get(self._cache_key(spec, cursor))
        file = cached.get(key) if cached is not None else None
        if file is None or _expired(file, self._clock.now()):
            # The listing request depends only on the token (or day) that made the current listing.
            body = self._session.call(paging.listing_request(spec, cursor))
            files = {entry.key: entry for entry in paging.listing_files(body)}
            self._listings.put(self._cache_key(spec, cursor), files)
            file = files.get(key)
        return file


def _expired(file: BatchFile, now: datetime) -> bool:
    expiry = parse_time(file.expiry) if file.expiry else None
    return expiry is not None and expiry - URL_EXPIRY_MARGIN <= now


class _Reader(threading.local):
    """The thread that reads the next window page ahead for this thread's fetches: one per thread
    that runs tasks (one a process under the prefork pool; one per task thread under the threads
    pool, whose fetches would otherwise queue behind each other's pages), made in the process that
    uses it (a pool made before a fork has no thread in the child)."""

    pid: int = 0
    pool: ThreadPoolExecutor | None = None


_readers = _Reader()


def _reader() -> ThreadPoolExecutor:
    pid = os.getpid()
    if _readers.pool is None or _readers.pid != pid:
        _readers.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-ahead")
        _readers.pid = pid
    return _readers.pool


def _settle(answer: Future[JsonObject]) -> None:
    """Wait for a page read ahead that nobody will use, and drop it (and any error it met)."""
    with contextlib.suppress(Exception):  # its error belongs to a call nobody made in the end
        answer.result()

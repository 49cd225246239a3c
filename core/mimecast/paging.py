"""Paging, as pure functions: the request for a cursor, and (spec, cursor, response) -> step.

Pure: no I/O here. The rules that peer collectors got wrong are decided here, once:
- a window is paged to its end (audit comes newest first) before it moves; the page token
  belongs to the window and is cleared when it moves (see `windows.py`);
- a window ends when `next` is missing or empty OR the page holds no records;
- a page token that comes back a second time in one window raises `RepeatedPageToken`;
- records Mimecast repeats (streaming page overlap, window edges, a hold list still listing the
  same message, a window that reads an overlap again for late-indexed records) are dropped by id,
  within the memory of `KnownIds`, bounded by time (only ids timed inside the overlap);
- the threat-intel feed pages by a response header, ended by its absence or its repetition;
- SIEM batch: `@nextPage` is the cursor for ever, never rebuilt from time; repeated URLs in a
  listing are read once.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from core.errors import RepeatedPageToken
from core.mimecast import windows
from core.mimecast.records import parse_time, record_time, to_record
from core.mimecast.streams import Dedupe, PagingKind, StreamSpec
from core.models import (
    KEPT_HEADERS,
    BatchCursor,
    BatchFile,
    JsonObject,
    Quarantined,
    Record,
    Request,
    WindowCursor,
    digest,
)

TOKENS_REMEMBERED = 32


@dataclass(frozen=True)
class Step:
    """What one page gave: records to hand out, the cursor after them, and whether the window is done."""

    records: tuple[Record, ...]
    cursor: WindowCursor
    finished: bool
    quarantined: tuple[Quarantined, ...] = ()


@dataclass(frozen=True)
class Listing:
    """What one SIEM batch listing gave: the files to read, in order, and the cursor that reads them."""

    files: tuple[BatchFile, ...]
    cursor: BatchCursor


def window_request(spec: StreamSpec, cursor: WindowCursor) -> Request:
    """The request for the next page of an open window."""
    if cursor.end is None:
        raise ValueError("open the window first (windows.open_window)")
    start_field, end_field = spec.window_fields
    start = windows.format_time(spec.time_format, cursor.start)
    end = windows.format_time(spec.time_format, cursor.end)
    if spec.paging is PagingKind.STREAMING:
        params = [(start_field, start), (end_field, end), ("pageSize", str(spec.page_size))]
        if cursor.page_token:
            params.append(("nextPage", cursor.page_token))
        return Request(spec.method, spec.path, params=tuple(params))
    if spec.paging is PagingKind.FEED:
        # No `meta` on the feed. The window is sent again with the token (Azure's form; Elastic
        # sends the token alone), so the request stays meaningful whichever the server reads.
        feed: dict[str, Any] = {start_field: start, end_field: end, **dict(spec.filters)}
        if cursor.page_token:
            feed["token"] = cursor.page_token
        keep = (spec.next_header,) if spec.next_header else ()
        return Request(spec.method, spec.path, body={"data": [feed]}, keep_headers=keep)
    pagination: dict[str, Any] = {"pageSize": spec.page_size}
    if cursor.page_token:
        pagination["pageToken"] = cursor.page_token
    # The filter is sent again with every page token: both forms are accepted (spec 3.1), and
    # this one keeps the request meaningful if a token ever stops carrying the filter.
    data = {start_field: start, end_field: end, **dict(spec.filters)}
    return Request(spec.method, spec.path, body={"meta": {"pagination": pagination}, "data": [data]})


def listing_request(spec: StreamSpec, cursor: BatchCursor) -> Request:
    """The request for a SIEM batch listing: by `@nextPage` once there is one, by day before."""
    params = [("pageSize", str(spec.page_size))]
    if spec.types:
        params.append(("type", ",".join(spec.types)))
    if cursor.token:
        params.append(("nextPage", cursor.token))
    elif cursor.start_date is not None:
        params.append((spec.window_fields[0], cursor.start_date.isoformat()))
    return Request(spec.method, spec.path, params=tuple(params))


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _envelope_records(spec: StreamSpec, body: JsonObject) -> tuple[list[Any], str | None]:
    data = body.get("data")
    items = data if isinstance(data, list) else []
    if spec.nested_records and items and isinstance(items[0], dict) and spec.nested_records in items[0]:
        # DLP nests its records one level deeper; a flat list is read as records too.
        nested = items[0].get(spec.nested_records)
        items = nested if isinstance(nested, list) else []
    meta = body.get("meta")
    pagination = meta.get("pagination") if isinstance(meta, dict) else None
    next_token = _text(pagination.get("next")) if isinstance(pagination, dict) else None
    return items, next_token


def _feed_records(spec: StreamSpec, cursor: WindowCursor, body: JsonObject) -> tuple[list[Any], str | None]:
    """A STIX bundle's objects, and the next token: none when the header is absent or repeats the
    token just sent (both readings of the last page, 7.2). "No results" came as a 200 with `fail`,
    which `classify` lets through as an answer without objects."""
    objects = body.get("objects")
    kept = body.get(KEPT_HEADERS)
    header = (spec.next_header or "").lower()
    token = _text(kept.get(header)) if isinstance(kept, dict) else None
    return (objects if isinstance(objects, list) else []), (None if token == cursor.page_token else token)


def _streaming_records(body: JsonObject) -> tuple[list[Any], str | None, bool]:
    value = body.get("value")
    return (
        (value if isinstance(value, list) else []),
        _text(body.get("@nextPage")),
        body.get("isCaughtUp") is True,
    )


def _remembered(spec: StreamSpec, cursor: WindowCursor, time: datetime | None) -> int | None:
    """The time (epoch seconds) to remember a handed-out record's id by, or None not to remember it.

    A later window starts `overlap` before this one's end, so the ids timed from there on are
    remembered by their time. A record without a readable time is remembered by the window's end:
    no window that starts after it can return the record. The hold list may list its whole queue
    in every window whatever its time (unconfirmed), so every id it lists is remembered by the
    window's end: forgotten once it has not been listed for an overlap.
    """
    if spec.dedupe is Dedupe.NONE or cursor.end is None:
        return None
    if time is None or spec.dedupe is Dedupe.LISTED:
        return int(cursor.end.timestamp())
    return int(time.timestamp()) if time >= cursor.end - spec.overlap else None


def _owned(cursor: WindowCursor, time: datetime | None) -> bool:
    """Whether a cursor that owns a range (a backfill's sub-window, or a stream after a split: it has
    `since`) hands out this record: its time is in [since, until) (a record without a readable time
    is handed out; it has no edge to fall on). A cursor without `since` (`fetch --until`) keeps
    whatever its windows return."""
    if time is None:
        return True
    return (cursor.since is None or time >= cursor.since) and (cursor.until is None or time < cursor.until)


def _accept(
    spec: StreamSpec, cursor: WindowCursor, items: list[Any]
) -> tuple[tuple[Record, ...], tuple[Quarantined, ...], dict[str, int], frozenset[str]]:
    """Records not seen before, what could not be read, and the ids to remember."""
    records: list[Record] = []
    quarantined: list[Quarantined] = []
    remember: dict[str, int] = {}
    page_ids: set[str] = set()
    where = f"{spec.name} window {cursor.start.isoformat()} page {digest(cursor.page_token or '')}"
    # A record's time is read (once) only where something needs it: the owned range, or the
    # remembered ids of a window (the hold list remembers every id by the window's end instead).
    timed = cursor.since is not None or (
        cursor.end is not None and spec.dedupe not in (Dedupe.NONE, Dedupe.LISTED)
    )
    for position, raw in enumerate(items):
        if not isinstance(raw, dict):
            quarantined.append(Quarantined(where, position, "record is not a JSON object", repr(raw)[:200]))
            continue
        time = record_time(spec, raw) if timed else None
        if cursor.since is not None and not _owned(cursor, time):
            continue
        record = to_record(spec, raw)
        key = digest(record.id)
        if (moment := _remembered(spec, cursor, time)) is not None:
            remember[key] = moment
        if key not in cursor.known and key not in cursor.last_page and key not in page_ids:
            records.append(record)
        page_ids.add(key)
    return tuple(records), tuple(quarantined), remember, frozenset(page_ids)


def _guard(cursor_token: str | None, seen: tuple[str, ...], next_token: str) -> tuple[str, ...]:
    """Raise if `next_token` was already followed; return the tokens seen including the current one."""
    used = seen + ((digest(cursor_token),) if cursor_token else ())
    if digest(next_token) in used:
        raise RepeatedPageToken("Mimecast returned a page token it had already given in this window")
    return used[-TOKENS_REMEMBERED:]


def _items(spec: StreamSpec, cursor: WindowCursor, body: JsonObject) -> tuple[list[Any], str | None, bool]:
    """A page's items, the next page's token, and whether the stream says it has caught up."""
    if spec.paging is PagingKind.STREAMING:
        return _streaming_records(body)
    if spec.paging is PagingKind.FEED:
        return (*_feed_records(spec, cursor, body), False)
    return (*_envelope_records(spec, body), False)


def read_ahead(
    spec: StreamSpec, cursor: WindowCursor, body: JsonObject, handed: int, want: int
) -> Request | None:
    """The request for the page after `body` in its window, to send while `body` is worked on; or
    None unless the reader will surely ask for it.

    It will when the window goes on (a next token not followed before, records on this page) and
    the records handed out so far with every item of this page stay under `want`, the number the
    reader takes before it stops (`decisions.take` stops at its limit, and never at a page that
    leaves the window open). A page read ahead and never asked for would be a call spent against
    the rate budget for nothing, so nothing is read ahead on a guess.
    """
    items, next_token, caught_up = _items(spec, cursor, body)
    if caught_up or not items or next_token is None or handed + len(items) >= want:
        return None
    try:
        _guard(cursor.page_token, cursor.tokens_seen, next_token)
    except RepeatedPageToken:
        return None  # `step` refuses the page: nothing follows it
    return window_request(spec, replace(cursor, page_token=next_token))


def step(spec: StreamSpec, cursor: WindowCursor, body: JsonObject) -> Step:
    """Apply one page of a windowed stream (envelope or streaming) to its cursor."""
    items, next_token, caught_up = _items(spec, cursor, body)
    records, quarantined, remember, page_ids = _accept(spec, cursor, items)
    known = cursor.known.add(remember, spec.known_cap) if remember else cursor.known
    last_page = page_ids if spec.dedupe is Dedupe.PAGE_OVERLAP and page_ids else cursor.last_page
    cursor = replace(cursor, known=known, last_page=last_page)
    finished = caught_up or not items or next_token is None
    if finished:
        closed = windows.close_window(spec, cursor)
        if spec.paging is PagingKind.STREAMING:  # where a switch to SIEM batch files would start
            closed = replace(closed, edge=cursor.end)
        return Step(records, closed, True, quarantined)
    assert next_token is not None
    seen = _guard(cursor.page_token, cursor.tokens_seen, next_token)
    return Step(records, replace(cursor, page_token=next_token, tokens_seen=seen), False, quarantined)


def file_key(url: str) -> str:
    """A batch file's identity: its URL without the signed query, which changes on every listing."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def listing_files(body: JsonObject) -> tuple[BatchFile, ...]:
    """The files of a SIEM batch listing, each URL (and each file) once, in listing order."""
    value = body.get("value")
    files: dict[str, BatchFile] = {}
    for entry in value if isinstance(value, list) else []:
        url = _text(entry.get("url")) if isinstance(entry, dict) else None
        if url is None or file_key(url) in files:
            continue
        size = entry.get("size")
        files[file_key(url)] = BatchFile(
            key=file_key(url),
            url=url,
            size=size if isinstance(size, int) else None,
            expiry=_text(entry.get("expiry")),
        )
    return tuple(files.values())


def listed(spec: StreamSpec, cursor: BatchCursor, body: JsonObject) -> Listing:
    """Apply a SIEM batch listing: the files to read (each URL once) and the cursor to read them."""
    files = listing_files(body)
    next_token = _text(body.get("@nextPage"))
    caught_up = body.get("isCaughtUp") is True
    if not files:
        # Nothing to read right now; keep the newest `@nextPage` and poll again later.
        token = next_token or cursor.token
        moved = replace(cursor, token=token, start_date=None if token else cursor.start_date, next_token=None)
        return Listing((), replace(moved, files=(), file_index=0, line=0, caught_up=True, tokens_seen=()))
    seen = cursor.tokens_seen
    if next_token is not None:
        if next_token == cursor.token:
            raise RepeatedPageToken("Mimecast listed new files but returned the same @nextPage")
        if not caught_up:
            seen = _guard(cursor.token, cursor.tokens_seen, next_token)
    reading = replace(
        cursor,
        next_token=next_token,
        files=tuple(file.key for file in files),
        file_index=0,
        line=0,
        caught_up=caught_up,
        tokens_seen=seen,
    )
    return Listing(files, reading)


def file_read(cursor: BatchCursor, line: int, eof: bool) -> BatchCursor:
    """After handing out a file's lines up to `line`; at the end of the file, move to the next."""
    return file_done(cursor) if eof else replace(cursor, line=line)


def file_done(cursor: BatchCursor) -> BatchCursor:
    """Move past the current file (read to its end, or reported as a gap)."""
    if cursor.file_index + 1 < len(cursor.files):
        return replace(cursor, file_index=cursor.file_index + 1, line=0)
    token = cursor.next_token or cursor.token
    return replace(
        cursor,
        token=token,
        start_date=None if token else cursor.start_date,
        next_token=None,
        files=(),
        file_index=0,
        line=0,
        tokens_seen=() if cursor.caught_up else cursor.tokens_seen,
    )


def in_bounds(spec: StreamSpec, records: tuple[Record, ...], cursor: BatchCursor) -> tuple[Record, ...]:
    """The records of a batch file a cursor hands out: those timed in its `[since, until)` (set
    around a switch between SIEM batch and streaming, `core.engine.siem_mode`); all without bounds.
    A record without a readable time is handed out: it has no side of a boundary to fall on."""
    if cursor.since is None and cursor.until is None:
        return records
    kept = []
    for record in records:
        time = parse_time(record.raw.get(spec.time_field or "timestamp"))
        if time is None or (
            (cursor.since is None or time >= cursor.since) and (cursor.until is None or time < cursor.until)
        ):
            kept.append(record)
    return tuple(kept)


def batch_finished(cursor: BatchCursor) -> bool:
    """No listing left to read and Mimecast said it was caught up: wait for the next poll."""
    return not cursor.files and cursor.caught_up

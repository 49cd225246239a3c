"""Property: whatever the page sizes, faults and restarts, every record comes out exactly once.

Each fetch starts from the committed cursor after a round trip through its stored JSON (a
restart from any committed cursor), and a page's cursor is committed only after its records
are delivered. A fault loses the call; a crash loses the step after the call.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.clock import ManualClock
from core.mimecast import batchfiles, paging, windows
from core.mimecast.records import record_id
from core.mimecast.streams import AUDIT, DLP, HOLD, SIEM_BATCH, SIEM_STREAMING, PagingKind, StreamSpec
from core.models import BatchCursor, Record, WindowCursor, cursor_from_json, cursor_to_json
from tests.unit.core.mimecast.fake_endpoints import (
    T0,
    BatchEndpoint,
    BatchFileModel,
    Behaviour,
    Bounds,
    Item,
    WindowedEndpoint,
    make_raw,
    seconds,
)

PROPERTY = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
OUTCOMES = st.sampled_from(["ok", "ok", "ok", "fault", "crash"])
SPAN = timedelta(minutes=30)


@dataclass
class Scenario:
    items: list[Item]
    behaviour: Behaviour
    actions: list[tuple[int, str]]


@st.composite
def windowed_scenarios(draw: st.DrawFn, spec: StreamSpec) -> Scenario:
    # A record becomes readable up to the lag plus the overlap after its time (indexed late): the
    # next window reads that far back again, so it is still collected, once.
    late = int((spec.lag + spec.overlap).total_seconds())
    items = []
    for n in range(draw(st.integers(0, 40))):
        # Ten-second steps on a thirty-second clock put many records exactly on window bounds.
        time = T0 + seconds(10 * draw(st.integers(1, 180)))
        if spec.paging is PagingKind.STREAMING:
            time += timedelta(milliseconds=draw(st.sampled_from([0, 0, 1, 500, 999])))
        visible = time + seconds(draw(st.sampled_from([0, 0, 0, 1, late // 2, late - 1, late])))
        released = None
        if spec is HOLD and draw(st.booleans()):
            released = visible + seconds(draw(st.integers(0, 3600)))
        items.append(Item(make_raw(spec, n, time), time, visible, released))
    page_size = draw(st.integers(1, 7))
    behaviour = Behaviour(
        page_size=page_size,
        bounds=draw(st.sampled_from(Bounds)),
        # DLP asks oldest first; the order of audit events and the hold list is unconfirmed: both.
        newest_first=False if spec is DLP else draw(st.booleans()),
        repeat_at_boundary=draw(st.integers(0, page_size - 1)) if spec is SIEM_STREAMING else 0,
        placeholder_end=draw(st.booleans()),
        ignores_window=spec is HOLD and draw(st.booleans()),
    )
    actions = draw(st.lists(st.tuples(st.integers(0, 10).map(lambda k: 30 * k), OUTCOMES), max_size=60))
    return Scenario(items, behaviour, actions)


@dataclass
class Run:
    delivered: list[Record] = field(default_factory=list)
    calls: int = 0


def fetch_window(
    spec: StreamSpec,
    endpoint: WindowedEndpoint,
    committed: dict[str, Any],
    clock: ManualClock,
    outcome: str,
    run: Run,
) -> dict[str, Any]:
    """One fetch from the committed cursor; returns the cursor committed afterwards."""
    cursor = cursor_from_json(json.loads(json.dumps(committed)))
    assert isinstance(cursor, WindowCursor)
    opened = windows.open_window(spec, cursor, clock.now())
    if opened is None or outcome == "fault":
        return committed
    window, _ = opened
    body = endpoint.answer(paging.window_request(spec, window), clock.now())
    step = paging.step(spec, window, body)
    if outcome == "crash":
        return committed
    run.delivered.extend(step.records)
    return cursor_to_json(step.cursor)


def drive_windows(spec: StreamSpec, scenario: Scenario) -> tuple[Run, WindowCursor]:
    clock = ManualClock(T0)
    endpoint = WindowedEndpoint(spec, scenario.items, scenario.behaviour)
    committed = cursor_to_json(windows.initial_cursor(spec, clock.now(), since=T0))
    run = Run()
    for wait, outcome in scenario.actions:
        clock.advance(wait)
        committed = fetch_window(spec, endpoint, committed, clock, outcome, run)
    clock.advance((SPAN + spec.lag + timedelta(hours=2)).total_seconds())
    for _ in range(5000):
        cursor = cursor_from_json(committed)
        if not windows.is_due(spec, cursor, clock.now()):
            break
        committed = fetch_window(spec, endpoint, committed, clock, "ok", run)
    else:
        raise AssertionError("the stream never finished")
    final = cursor_from_json(committed)
    assert isinstance(final, WindowCursor)
    return run, final


def assert_exactly_once(run: Run, expected: set[str]) -> None:
    counts = Counter(record.id for record in run.delivered)
    repeated = {key: count for key, count in counts.items() if count > 1}
    assert not repeated, f"handed out more than once: {repeated}"
    assert set(counts) == expected, f"missing: {expected - set(counts)}; unexpected: {set(counts) - expected}"


@PROPERTY
@given(windowed_scenarios(DLP))
def test_dlp_records_come_out_exactly_once(scenario: Scenario) -> None:
    run, _ = drive_windows(DLP, scenario)
    assert_exactly_once(run, {record_id(DLP, item.raw) for item in scenario.items})


@PROPERTY
@given(windowed_scenarios(AUDIT))
def test_audit_events_in_either_order_come_out_exactly_once(scenario: Scenario) -> None:
    run, _ = drive_windows(AUDIT, scenario)
    assert_exactly_once(run, {record_id(AUDIT, item.raw) for item in scenario.items})


@PROPERTY
@given(windowed_scenarios(SIEM_STREAMING))
def test_streamed_siem_events_come_out_exactly_once_despite_page_overlap(scenario: Scenario) -> None:
    run, _ = drive_windows(SIEM_STREAMING, scenario)
    assert_exactly_once(run, {record_id(SIEM_STREAMING, item.raw) for item in scenario.items})


@PROPERTY
@given(windowed_scenarios(HOLD))
def test_held_messages_come_out_once_and_never_again_while_listed(scenario: Scenario) -> None:
    # Given a hold list that filters by window, or ignores it and lists the whole queue each time
    run, final = drive_windows(HOLD, scenario)
    counts = Counter(record.id for record in run.delivered)
    # Then no message comes out twice, and every message still held comes out once
    assert all(count == 1 for count in counts.values()), counts
    still_held = {record_id(HOLD, item.raw) for item in scenario.items if item.released is None}
    assert still_held <= set(counts)
    # And the memory of listed ids stays bounded by what was listed in the last two windows
    assert len(final.known) <= 2 * len(scenario.items)


# ---- SIEM batch -------------------------------------------------------------------------------


@dataclass
class BatchScenario:
    files: list[BatchFileModel]
    page_size: int
    repeat_urls: bool
    max_records: int
    piece: int
    actions: list[tuple[int, str]]


@st.composite
def batch_scenarios(draw: st.DrawFn) -> BatchScenario:
    files, offset = [], 0
    for n in range(draw(st.integers(0, 7))):
        lines = []
        for kind in draw(st.lists(st.sampled_from(["record"] * 6 + ["broken", "blank"]), max_size=12)):
            if kind == "record":
                offset += 1
                lines.append(json.dumps({"_partition": 3, "_offset": offset, "type": "receipt"}).encode())
            else:
                lines.append(b'{"broken' if kind == "broken" else b"")
        published = T0 + seconds(draw(st.integers(0, 3600)))
        gone = draw(st.integers(0, 9)) == 0
        files.append(
            BatchFileModel(f"f{n}", published, lines, expires_once=draw(st.booleans()), gone_forever=gone)
        )
    files.sort(key=lambda file: file.published)
    outcomes = st.sampled_from(["ok", "ok", "ok", "fault", "crash", "restart"])
    return BatchScenario(
        files=files,
        page_size=draw(st.integers(1, 4)),
        repeat_urls=draw(st.booleans()),
        max_records=draw(st.integers(1, 5)),
        piece=draw(st.integers(1, 64)),
        actions=draw(st.lists(st.tuples(st.integers(0, 10).map(lambda k: 60 * k), outcomes), max_size=60)),
    )


@dataclass
class BatchRun:
    delivered: list[Record] = field(default_factory=list)
    quarantined: list[tuple[str, int]] = field(default_factory=list)
    gaps: list[str] = field(default_factory=list)
    urls: dict[str, dict[str, str]] = field(default_factory=dict)


def pieces(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def origin(cursor: BatchCursor) -> str:
    return cursor.token or str(cursor.start_date)


def fetch_batch(
    endpoint: BatchEndpoint,
    scenario: BatchScenario,
    committed: dict[str, Any],
    clock: ManualClock,
    outcome: str,
    run: BatchRun,
) -> dict[str, Any]:
    """One listing and/or one chunk, as the Fetcher does it, from the committed cursor."""
    if outcome == "restart":
        run.urls.clear()  # a new process has no cached listing
    cursor = cursor_from_json(json.loads(json.dumps(committed)))
    assert isinstance(cursor, BatchCursor)
    if not cursor.files:
        if outcome == "fault":
            return committed
        listing = paging.listed(
            SIEM_BATCH, cursor, endpoint.listing(paging.listing_request(SIEM_BATCH, cursor), clock.now())
        )
        if not listing.files:
            return committed if outcome == "crash" else cursor_to_json(listing.cursor)
        run.urls[origin(cursor)] = {file.key: file.url for file in listing.files}
        cursor = listing.cursor
    key = cursor.reading
    assert key is not None
    url = run.urls.get(origin(cursor), {}).get(key)
    data = endpoint.download(url) if url is not None else None
    if data is None:  # expired, missing or unknown: list again once for a fresh URL
        body = endpoint.listing(paging.listing_request(SIEM_BATCH, cursor), clock.now())
        run.urls[origin(cursor)] = {file.key: file.url for file in paging.listing_files(body)}
        fresh = run.urls[origin(cursor)].get(key)
        data = endpoint.download(fresh) if fresh is not None else None
        if data is None:
            if outcome == "crash":
                return committed
            run.gaps.append(key)
            return cursor_to_json(paging.file_done(cursor))
    if outcome == "fault":
        return committed
    text = batchfiles.gunzip(pieces(data, scenario.piece))
    chunk = next(batchfiles.chunks(SIEM_BATCH, key, text, cursor.line, max_records=scenario.max_records))
    end = paging.file_read(cursor, chunk.line, chunk.eof)
    if outcome == "crash":
        return committed
    run.delivered.extend(chunk.records)
    run.quarantined.extend((q.source, q.position) for q in chunk.quarantined)
    return cursor_to_json(end)


@PROPERTY
@given(batch_scenarios())
def test_siem_batch_lines_come_out_exactly_once_and_vanished_files_are_gaps(scenario: BatchScenario) -> None:
    clock = ManualClock(T0)
    endpoint = BatchEndpoint(scenario.files, scenario.page_size, scenario.repeat_urls)
    committed = cursor_to_json(windows.initial_cursor(SIEM_BATCH, clock.now(), since=T0))
    run = BatchRun()
    for wait, outcome in scenario.actions:
        clock.advance(wait)
        committed = fetch_batch(endpoint, scenario, committed, clock, outcome, run)
    clock.advance(2 * 3600)
    for _ in range(5000):
        before = committed
        committed = fetch_batch(endpoint, scenario, committed, clock, "ok", run)
        final = cursor_from_json(committed)
        assert isinstance(final, BatchCursor)
        if paging.batch_finished(final) and committed == before:
            break
    else:
        raise AssertionError("the stream never caught up")

    kept = [file for file in scenario.files if not file.gone_forever]
    expected_ids = {
        record_id(SIEM_BATCH, json.loads(line))
        for file in kept
        for line in file.lines
        if line.startswith(b'{"_partition"')
    }
    expected_quarantine = {
        (file.key, number)
        for file in kept
        for number, line in enumerate(file.lines, 1)
        if line == b'{"broken'
    }
    assert_exactly_once(Run(delivered=run.delivered), expected_ids)
    assert Counter(run.quarantined) == Counter(expected_quarantine)
    assert sorted(run.gaps) == sorted(file.key for file in scenario.files if file.gone_forever)

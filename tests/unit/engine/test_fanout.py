"""Fan-out as a specification: a listing page becomes one child per file, a long backlog becomes
sub-windows that own disjoint time ranges, and a child knows when it has nothing left."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from core.engine import fanout
from core.engine.decisions import batch_id
from core.engine.units import (
    WINDOW_AHEAD_MS,
    Unit,
    file_child,
    first_served,
    parse,
    priority,
    queue_order,
    window_child,
)
from core.mimecast import paging
from core.mimecast.streams import AUDIT, DLP, HOLD, SIEM_BATCH
from core.models import (
    BatchCursor,
    BatchFile,
    KnownIds,
    WindowCursor,
    cursor_from_json,
    cursor_text,
    cursor_to_json,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
SIEM = Unit("s1", "siem")
AUDIT_STREAM = Unit("s1", "auditEvent")
HOUR = timedelta(hours=1)


BUDGET = 100


def listing(keys: list[str], next_token: str | None, caught_up: bool, size: int = BUDGET) -> paging.Listing:
    body = {
        "value": [{"url": f"{key}?sig=1", "size": size, "expiry": "2026-11-25T13:00:00Z"} for key in keys],
        "@nextPage": next_token,
        "isCaughtUp": caught_up,
    }
    return paging.listed(SIEM_BATCH, BatchCursor(token="t1"), body)


def test_a_listing_page_becomes_one_child_per_file_and_the_stream_moves_past_it() -> None:
    origin = BatchCursor(token="t1")
    keys = [f"https://files.example/f{number}.gz" for number in range(3)]

    adoption = fanout.files_of(SIEM, origin, listing(keys, "t2", caught_up=False), BUDGET)

    assert [child.unit for child in adoption.children] == [file_child(SIEM, key) for key in keys]
    first = adoption.children[0].cursor
    assert first == BatchCursor(token="t1", files=(keys[0],), line=0, caught_up=True)
    assert adoption.cursor == BatchCursor(
        token="t2", caught_up=False, tokens_seen=adoption.cursor.tokens_seen
    )
    assert not paging.batch_finished(adoption.cursor)  # Mimecast has more: list on at once


def test_an_empty_listing_hands_out_nothing_and_keeps_the_newest_token() -> None:
    adoption = fanout.files_of(SIEM, BatchCursor(token="t1"), listing([], "t9", caught_up=True), BUDGET)

    assert adoption.children == ()
    assert adoption.cursor.token == "t9"
    assert paging.batch_finished(adoption.cursor)


def test_the_first_listing_asked_by_day_lists_again_by_day_when_a_url_expires() -> None:
    origin = BatchCursor(start_date=date(2026, 11, 24))
    body = {"value": [{"url": "https://files.example/a.gz?sig=1"}], "@nextPage": "t2", "isCaughtUp": True}

    adoption = fanout.files_of(SIEM, origin, paging.listed(SIEM_BATCH, origin, body), BUDGET)

    child = adoption.children[0].cursor
    assert isinstance(child, BatchCursor)
    assert (child.token, child.start_date) == (None, date(2026, 11, 24))
    assert paging.listing_request(SIEM_BATCH, child) == paging.listing_request(SIEM_BATCH, origin)


def test_small_files_of_a_listing_are_read_together_up_to_the_byte_budget() -> None:
    keys = [f"https://files.example/f{number}.gz" for number in range(5)]
    small = listing(keys, "t2", caught_up=True, size=30)

    adoption = fanout.files_of(SIEM, BatchCursor(token="t1"), small, BUDGET)

    assert [c.cursor.files for c in adoption.children] == [tuple(keys[:3]), tuple(keys[3:])]  # type: ignore[union-attr]
    assert adoption.children[1].unit == file_child(SIEM, keys[3])  # named for its first file


def test_a_listing_is_spread_over_the_sources_slots_before_files_are_grouped() -> None:
    keys = [f"https://files.example/f{number}.gz" for number in range(16)]
    small = listing(keys, "t2", caught_up=True, size=10)  # 160 bytes in all

    spread = fanout.files_of(SIEM, BatchCursor(token="t1"), small, most=1000, spread=8)
    lumped = fanout.files_of(SIEM, BatchCursor(token="t1"), small, most=1000)

    assert len(spread.children) == 8  # two files each: every slot gets work
    assert len(lumped.children) == 1


def test_a_file_of_unknown_size_is_read_alone() -> None:
    files = (
        BatchFile("a", "u", 10),
        BatchFile("b", "u", None),
        BatchFile("c", "u", 10),
        BatchFile("d", "u", 10),
    )
    assert [[f.key for f in group] for group in fanout.groups(files, BUDGET)] == [["a"], ["b"], ["c", "d"]]


def test_a_cursor_stopped_inside_a_listing_hands_out_its_unread_files_from_where_it_was() -> None:
    cursor = BatchCursor(token="t1", next_token="t2", files=("a", "b", "c"), file_index=1, line=40)

    adoption = fanout.files_in_progress(SIEM, cursor)

    assert adoption is not None
    assert [(c.cursor.files, c.cursor.line) for c in adoption.children] == [(("b", "c"), 40)]  # type: ignore[union-attr]
    assert adoption.cursor.token == "t2"
    assert fanout.files_in_progress(SIEM, BatchCursor(token="t2")) is None


def test_a_backlog_longer_than_the_span_splits_into_sub_windows_that_own_disjoint_ranges() -> None:
    start = NOW - timedelta(hours=4)
    edge = NOW - AUDIT.lag

    adoption = fanout.split(AUDIT, AUDIT_STREAM, WindowCursor(start=start), NOW, HOUR)

    assert adoption is not None
    owned = [(c.cursor.since, c.cursor.until) for c in adoption.children]  # type: ignore[union-attr]
    assert owned[0][0] == start
    assert all(a[1] == b[0] for a, b in itertools.pairwise(owned))  # no gap, no overlap
    assert owned[-1][1] == edge - HOUR
    live = adoption.cursor
    assert isinstance(live, WindowCursor)
    assert live.since == edge - HOUR  # the stream owns the newest span and reads on live
    assert live.start == edge - HOUR - AUDIT.overlap
    assert adoption.children[0].unit == window_child(AUDIT_STREAM, start)


def test_a_long_backlog_is_cut_into_a_quarter_of_the_sources_slots_of_sub_windows() -> None:
    month = WindowCursor(start=NOW - timedelta(days=30))
    day = WindowCursor(start=NOW - timedelta(hours=25))

    # The default 8 slots: 2 sub-windows, the rest of the slots left to the files and other streams
    wide = fanout.split(AUDIT, AUDIT_STREAM, month, NOW, HOUR, slots=8)
    assert wide is not None
    assert len(wide.children) == 2
    assert len(fanout.split(AUDIT, AUDIT_STREAM, month, NOW, HOUR, slots=32).children) == 8  # type: ignore[union-attr]
    assert len(fanout.split(AUDIT, AUDIT_STREAM, day, NOW, HOUR, slots=1).children) == 1  # type: ignore[union-attr]
    # never a sub-window shorter than the span
    short = fanout.split(AUDIT, AUDIT_STREAM, WindowCursor(start=NOW - timedelta(hours=3)), NOW, HOUR, 32)
    assert short is not None
    assert len(short.children) == 2


def test_a_sub_window_asks_from_before_what_it_owns_so_an_exclusive_bound_loses_nothing() -> None:
    three_hours = WindowCursor(start=NOW - timedelta(hours=3))
    adoption = fanout.split(DLP, Unit("s1", "dlp"), three_hours, NOW, HOUR, 8)

    assert adoption is not None
    second = adoption.children[1].cursor
    assert isinstance(second, WindowCursor)
    assert second.start == second.since - DLP.overlap  # type: ignore[operator]


def test_the_first_sub_window_remembers_the_ids_the_stream_handed_out_at_its_edge() -> None:
    known = KnownIds.of({"abc": int((NOW - timedelta(hours=3)).timestamp())})
    cursor = WindowCursor(start=NOW - timedelta(hours=3), known=known)

    adoption = fanout.split(AUDIT, AUDIT_STREAM, cursor, NOW, HOUR, slots=8)

    assert adoption is not None
    assert adoption.children[0].cursor.known == known  # type: ignore[union-attr]
    assert adoption.children[1].cursor.known == KnownIds()  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("spec", "cursor", "span"),
    [
        (AUDIT, WindowCursor(start=NOW - timedelta(minutes=50)), HOUR),  # live: one window
        (AUDIT, WindowCursor(start=NOW - timedelta(hours=5), end=NOW), HOUR),  # a window is open
        (AUDIT, WindowCursor(start=NOW - timedelta(hours=5), until=NOW), HOUR),  # already a sub-window
        (HOLD, WindowCursor(start=NOW - timedelta(days=30)), HOUR),  # a state list never splits
        (AUDIT, WindowCursor(start=NOW - timedelta(hours=5)), timedelta(0)),  # splitting switched off
    ],
)
def test_live_polling_open_windows_sub_windows_and_the_hold_list_never_split(
    spec: object, cursor: WindowCursor, span: timedelta
) -> None:
    assert fanout.split(spec, AUDIT_STREAM, cursor, NOW, span) is None  # type: ignore[arg-type]


def test_a_child_is_complete_when_its_file_is_read_or_its_window_reached_its_end() -> None:
    file_unit = parse("s1:siem@f.00000000000000aa")
    window_unit = parse("s1:dlp@w.1795000000")
    assert fanout.complete(file_unit, BatchCursor(token="t1", caught_up=True))
    assert not fanout.complete(file_unit, BatchCursor(token="t1", files=("a",), line=5, caught_up=True))
    assert fanout.complete(window_unit, WindowCursor(start=NOW, until=NOW))
    assert not fanout.complete(window_unit, WindowCursor(start=NOW - HOUR, until=NOW))
    assert not fanout.complete(Unit("s1", "dlp"), WindowCursor(start=NOW, until=NOW))  # streams never


def test_unit_ids_round_trip_and_refuse_what_is_not_one() -> None:
    child = window_child(AUDIT_STREAM, NOW)
    assert parse(child.id) == child
    assert child.stream == "s1:auditEvent"
    assert parse("s1:dlp") == Unit("s1", "dlp")
    for bad in ("nocolon", "s1:", ":dlp", "s1:dlp@", "s1:dlp@x.1", "s1:dlp@f"):
        with pytest.raises(ValueError, match="not a unit id"):
            parse(bad)


def test_a_split_span_shorter_than_the_overlap_leaves_the_whole_overlap_to_the_live_stream() -> None:
    # Given a split span of a minute and the ten-minute overlap in which records may be indexed late
    span = timedelta(minutes=1)
    cursor = WindowCursor(start=NOW - timedelta(hours=3))

    adoption = fanout.split(AUDIT, AUDIT_STREAM, cursor, NOW, span, slots=8)

    # Then no sub-window owns a record timed inside the overlap: those are read live, again later
    assert adoption is not None
    edge = NOW - AUDIT.lag
    owned = [(c.cursor.since, c.cursor.until) for c in adoption.children]  # type: ignore[union-attr]
    assert owned[-1][1] == edge - AUDIT.overlap
    assert adoption.cursor.since == edge - AUDIT.overlap  # type: ignore[union-attr]
    # And the live stream, once it reads from there, is not split again
    assert fanout.split(AUDIT, AUDIT_STREAM, adoption.cursor, NOW, span, slots=8) is None  # type: ignore[arg-type]


def test_a_live_stream_read_up_to_the_present_is_never_split() -> None:
    end = NOW - AUDIT.lag
    live = WindowCursor(start=end - AUDIT.overlap, read_to=end)
    for span in (HOUR, timedelta(minutes=1)):
        assert fanout.split(AUDIT, AUDIT_STREAM, live, NOW + timedelta(minutes=5), span, slots=8) is None


def test_a_live_stream_back_from_a_long_outage_splits_and_its_first_sub_window_keeps_its_memory() -> None:
    # Given a stream that had read up to `end`, remembering the ids of the overlap, then stopped
    end = NOW - timedelta(hours=5)
    known = KnownIds.of({"seen": int((end - timedelta(minutes=1)).timestamp())})
    stopped = WindowCursor(start=end - AUDIT.overlap, read_to=end, known=known)
    # When it comes back five hours later
    adoption = fanout.split(AUDIT, AUDIT_STREAM, stopped, NOW, HOUR, slots=8)
    # Then the backlog, from the overlap before `end` on, is split; the first sub-window reads the
    # overlap again (records indexed late) and drops what was handed out
    assert adoption is not None
    first = adoption.children[0].cursor
    assert isinstance(first, WindowCursor)
    assert (first.since, first.known) == (end - AUDIT.overlap, known)


def test_a_resets_run_reaches_every_cursor_and_batch_id_so_the_same_pages_are_new_batches() -> None:
    # Given the same backlog split twice: once as first collected, once after a reset (its own run)
    start = NOW - timedelta(days=2)
    first = fanout.split(AUDIT, AUDIT_STREAM, WindowCursor(start=start), NOW, HOUR, slots=8)
    again = fanout.split(AUDIT, AUDIT_STREAM, WindowCursor(start=start, run=17), NOW, HOUR, slots=8)
    assert first is not None
    assert again is not None
    # Then the sub-windows are the same, but each carries the run, in its stored form too
    assert [child.unit for child in first.children] == [child.unit for child in again.children]
    for before, after in zip(first.children, again.children, strict=True):
        assert after.cursor.run == 17
        assert after.cursor == replace(before.cursor, run=17)
        assert cursor_from_json(cursor_to_json(after.cursor)) == after.cursor
        # And a page read from the same place with the same records is another batch
        ids = ("a", "b")
        assert batch_id(before.unit, cursor_text(before.cursor), ids) != batch_id(
            after.unit, cursor_text(after.cursor), ids
        )
    # A cursor from before any reset keeps its stored form (no `run` key)
    assert "run" not in cursor_to_json(first.children[0].cursor)


def test_a_streams_own_chain_is_served_first_then_sub_windows_then_files() -> None:
    stream = Unit("s1", "siem")
    file = file_child(stream, "https://files.example/a.gz")
    window = window_child(Unit("s1", "dlp"), datetime(2026, 1, 1, tzinfo=UTC))
    other = file_child(stream, "https://files.example/b.gz")
    assert priority(stream.id) < priority(window.id) < priority(file.id)
    given = [file.id, "s1:dlp", window.id, other.id, "s1:holdMessageList"]
    assert first_served(given) == ["s1:dlp", "s1:holdMessageList", window.id, file.id, other.id]


def test_a_sub_window_queues_for_a_slot_an_hour_ahead_of_files_handed_out_with_it() -> None:
    file = file_child(Unit("s1", "siem"), "https://files.example/a.gz")
    window = window_child(Unit("s1", "dlp"), datetime(2026, 1, 1, tzinfo=UTC))
    assert queue_order(file.id, 1000.5) == 1_000_500
    assert queue_order(window.id, 1000.5) == 1_000_500 - WINDOW_AHEAD_MS

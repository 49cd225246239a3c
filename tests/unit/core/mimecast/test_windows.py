"""windows: where a stream starts, when the next window opens, how a window closes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from core.mimecast.streams import (
    ARCHIVE_SEARCH,
    AUDIT,
    DLP,
    HOLD,
    SIEM_BATCH,
    SIEM_STREAMING,
    THREAT_INTEL_GRID,
    TTP_URL,
    StreamSpec,
    TimeFormat,
)
from core.mimecast.windows import (
    batch_into_reach,
    close_window,
    collect_start,
    format_time,
    initial_cursor,
    into_reach,
    is_due,
    open_window,
    reach_gap,
    span,
    tuned,
)
from core.models import BatchCursor, KnownIds, WindowCursor

NOW = datetime(2024, 6, 10, 12, 30, 45, 678000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("time_format", "text"),
    [
        (TimeFormat.DATE, "2024-06-10"),
        (TimeFormat.ISO_MS_Z, "2024-06-10T12:30:45.678Z"),
        (TimeFormat.OFFSET, "2024-06-10T12:30:45+0000"),
    ],
)
def test_window_bounds_are_written_as_each_endpoint_wants(time_format: TimeFormat, text: str) -> None:
    assert format_time(time_format, NOW) == text


def test_bounds_in_another_zone_are_written_in_utc() -> None:
    paris = NOW.astimezone(__import__("datetime").timezone(timedelta(hours=2)))
    assert format_time(TimeFormat.OFFSET, paris) == "2024-06-10T12:30:45+0000"


def test_a_new_stream_starts_its_lookback_ago_on_a_whole_second() -> None:
    cursor = initial_cursor(DLP, NOW)
    assert cursor == WindowCursor(start=datetime(2024, 6, 9, 12, 30, 45, tzinfo=UTC))


def test_a_new_siem_batch_stream_asks_by_day_for_its_first_listing() -> None:
    assert initial_cursor(SIEM_BATCH, NOW) == BatchCursor(start_date=date(2024, 6, 9))


def test_a_start_beyond_mimecasts_reach_is_moved_inside_it() -> None:
    # Given a backfill request of 30 days on streams Mimecast serves 7 days and 24 hours of
    batch = initial_cursor(SIEM_BATCH, NOW, since=NOW - timedelta(days=30))
    streaming = initial_cursor(SIEM_STREAMING, NOW, since=NOW - timedelta(days=30))
    # Then the starts are the first day, and the first moment, Mimecast still serves
    assert isinstance(batch, BatchCursor)
    assert batch.start_date == date(2024, 6, 4)
    assert isinstance(streaming, WindowCursor)
    assert streaming.start == (NOW - SIEM_STREAMING.max_lookback).replace(microsecond=0)  # type: ignore[operator]
    assert reach_gap(SIEM_STREAMING, NOW - timedelta(days=30), NOW) is not None
    assert reach_gap(DLP, NOW - timedelta(days=300), NOW) is None  # no known reach: no clamp


def test_audit_events_reach_back_59_days_and_an_older_window_reports_the_gap() -> None:
    assert reach_gap(AUDIT, NOW - timedelta(days=58), NOW) is None
    since = NOW - timedelta(days=90)
    gap = reach_gap(AUDIT, since, NOW)
    assert gap is not None
    assert gap.what.startswith("auditEvent ")
    opened = open_window(AUDIT, WindowCursor(start=since), NOW)
    assert opened is not None
    window, reported = opened
    assert reported == gap
    assert window.start == (NOW - timedelta(days=59)).replace(microsecond=0)


@pytest.mark.parametrize(
    ("since", "gap_until"),
    [
        (NOW - timedelta(days=30), "2024-06-04T00:00:00.000Z"),
        (NOW - timedelta(days=7) + timedelta(hours=1), "2024-06-04T00:00:00.000Z"),
        (NOW - timedelta(days=6), None),
        (datetime(2024, 6, 4, tzinfo=UTC), None),
    ],
    ids=["beyond the reach", "inside the reach, on its first day", "inside", "on the first whole day"],
)
def test_what_a_new_siem_batch_stream_skips_at_the_edge_of_the_7_days_is_named_as_a_gap(
    since: datetime, gap_until: str | None
) -> None:
    # Given a first listing asked by day, and the day the 7-day reach falls on only partly served
    cursor = initial_cursor(SIEM_BATCH, NOW, since=since)
    gap = reach_gap(SIEM_BATCH, since, NOW)
    # Then whatever lies between `since` and the first day asked is reported, and nothing else
    assert isinstance(cursor, BatchCursor)
    assert cursor.start_date == max(since.date(), date(2024, 6, 4))
    if gap_until is None:
        assert gap is None
    else:
        assert gap is not None
        assert gap.what.endswith(f".. {gap_until}")
        assert "whole day" in gap.reason


def test_a_window_reaches_up_to_the_present_less_a_few_seconds() -> None:
    opened = open_window(DLP, WindowCursor(start=NOW - timedelta(hours=1)), NOW)
    assert opened is not None
    window, gap = opened
    assert window.end == (NOW - DLP.lag).replace(microsecond=0)
    assert DLP.lag <= timedelta(seconds=10)
    assert gap is None


def test_a_long_backlog_is_read_in_windows_of_bounded_span() -> None:
    opened = open_window(AUDIT, WindowCursor(start=NOW - timedelta(days=10)), NOW)
    assert opened is not None
    assert opened[0].end == (NOW - timedelta(days=10) + AUDIT.max_window).replace(microsecond=0)


def test_no_window_opens_while_it_would_be_shorter_than_the_minimum() -> None:
    cursor = WindowCursor(start=(NOW - DLP.lag - DLP.min_window / 2).replace(microsecond=0))
    assert open_window(DLP, cursor, NOW) is None
    assert not is_due(DLP, cursor, NOW)
    assert is_due(DLP, cursor, NOW + DLP.min_window)


def test_an_open_window_stays_as_it_is_until_its_last_page() -> None:
    cursor = WindowCursor(start=NOW - timedelta(hours=2), end=NOW - timedelta(hours=1), page_token="p2")
    assert open_window(DLP, cursor, NOW + timedelta(days=1)) == (cursor, None)
    assert is_due(DLP, cursor, NOW)


def test_a_window_that_fell_out_of_reach_during_an_outage_moves_and_reports_the_gap() -> None:
    cursor = WindowCursor(start=NOW - timedelta(days=3))
    opened = open_window(SIEM_STREAMING, cursor, NOW)
    assert opened is not None
    window, gap = opened
    assert window.start == (NOW - SIEM_STREAMING.max_lookback).replace(microsecond=0)  # type: ignore[operator]
    assert gap is not None
    assert "siem-streaming" in gap.what


def test_closing_a_window_moves_to_its_end_less_the_overlap_and_clears_the_page_token() -> None:
    start, end = NOW - timedelta(hours=2), NOW - timedelta(hours=1)
    cursor = WindowCursor(start=start, end=end, page_token="last", tokens_seen=("a", "b"))
    closed = close_window(DLP, cursor)
    assert closed.start == end - DLP.overlap
    assert (closed.end, closed.page_token, closed.tokens_seen) == (None, None, ())


@pytest.mark.parametrize("spec", [DLP, AUDIT, HOLD, SIEM_STREAMING], ids=lambda spec: spec.name)
def test_closing_a_window_forgets_the_ids_timed_before_the_next_start(spec: StreamSpec) -> None:
    # Given ids remembered by their records' times, around where the next window will start
    start, end = NOW - timedelta(hours=2), (NOW - timedelta(hours=1)).replace(microsecond=0)
    edge = int((end - spec.overlap).timestamp())
    known = KnownIds.of({"before": edge - 1, "at": edge, "inside": edge + 1})
    cursor = WindowCursor(start=start, end=end, known=known)
    # When the window closes
    closed = close_window(spec, cursor)
    # Then only the ids a window from the new start can return again are remembered
    assert closed.known == KnownIds.of({"at": edge, "inside": edge + 1})


def test_a_stream_with_an_end_stops_there() -> None:
    until = (NOW - timedelta(hours=3)).replace(microsecond=0)
    cursor = WindowCursor(start=until - timedelta(seconds=20), until=until)
    opened = open_window(DLP, cursor, NOW)
    assert opened is not None
    assert opened[0].end == until
    closed = close_window(DLP, opened[0])
    assert closed.start == until
    assert open_window(DLP, closed, NOW + timedelta(days=1)) is None
    assert not is_due(DLP, replace(closed), NOW)


def test_the_siem_batch_stream_is_always_due_its_schedule_decides_how_often() -> None:
    assert is_due(SIEM_BATCH, BatchCursor(token="t"), NOW)


def test_a_first_siem_listing_asked_by_a_day_out_of_reach_moves_into_it_and_names_the_gap() -> None:
    asked = BatchCursor(start_date=(NOW - timedelta(days=10)).date())
    moved = batch_into_reach(SIEM_BATCH, asked, NOW)
    assert moved is not None
    cursor, gap = moved
    assert cursor == initial_cursor(SIEM_BATCH, NOW, since=NOW - timedelta(days=10))
    assert gap.what.startswith(f"siem {asked.start_date}T00:00:00.000Z .. ")
    assert batch_into_reach(SIEM_BATCH, cursor, NOW) is None
    assert batch_into_reach(SIEM_BATCH, replace(asked, token="listed"), NOW) is None


@pytest.mark.parametrize(
    ("asked", "start"),
    [
        ("7d", NOW - timedelta(days=7)),
        ("12h", NOW - timedelta(hours=12)),
        ("90m", NOW - timedelta(minutes=90)),
        ("2w", NOW - timedelta(weeks=2)),
        ("2024-06-01T00:00:00Z", datetime(2024, 6, 1, tzinfo=UTC)),
        ("2024-06-01T02:00:00+02:00", datetime(2024, 6, 1, tzinfo=UTC)),
        (None, None),
    ],
)
def test_collect_from_is_a_time_or_a_duration_back_from_now(
    asked: str | None, start: datetime | None
) -> None:
    assert collect_start(asked, NOW) == start


@pytest.mark.parametrize(
    ("asked", "said"),
    [
        ("yesterday", "ISO 8601"),
        ("7 days", "ISO 8601"),
        ("0d", "ISO 8601"),
        ("7y", "ISO 8601"),
        ("2024-06-01T00:00:00", "time zone"),
        ("2024-07-01T00:00:00Z", "future"),
        ("999999w", "first year"),
    ],
)
def test_a_collect_from_that_is_not_a_zoned_past_time_or_a_duration_is_refused(asked: str, said: str) -> None:
    with pytest.raises(ValueError, match=said):
        collect_start(asked, NOW)


def test_collect_from_within_the_reach_starts_the_new_stream_there() -> None:
    asked = NOW - timedelta(days=7)
    assert initial_cursor(DLP, NOW, collect_from=asked) == WindowCursor(start=asked.replace(microsecond=0))
    assert initial_cursor(AUDIT, NOW, collect_from=asked) == WindowCursor(start=asked.replace(microsecond=0))
    assert initial_cursor(SIEM_BATCH, NOW, collect_from=NOW - timedelta(days=3)) == BatchCursor(
        start_date=date(2024, 6, 7)
    )
    assert initial_cursor(DLP, NOW, collect_from=NOW + timedelta(days=1)).start == NOW.replace(microsecond=0)  # type: ignore[union-attr]


def test_collect_from_beyond_the_reach_is_kept_so_the_first_fetch_reports_the_gap_and_moves_in() -> None:
    asked = NOW - timedelta(days=90)
    audit = initial_cursor(AUDIT, NOW, collect_from=asked)
    assert isinstance(audit, WindowCursor)
    assert audit.start == asked.replace(microsecond=0)
    moved, gap = into_reach(AUDIT, audit, NOW)
    assert moved.start == (NOW - timedelta(days=59)).replace(microsecond=0)
    assert gap is not None
    assert gap.reason == "older than the 59 days Mimecast serves for auditEvent"

    batch = initial_cursor(SIEM_BATCH, NOW, collect_from=asked)
    assert batch == BatchCursor(start_date=asked.date())
    assert isinstance(batch, BatchCursor)
    found = batch_into_reach(SIEM_BATCH, batch, NOW)
    assert found is not None
    listed, lost = found
    assert listed.start_date == date(2024, 6, 4)
    assert lost.reason.startswith("before the first whole day inside the 7 days Mimecast serves for siem")


@pytest.mark.parametrize(
    ("length", "text"),
    [
        (timedelta(days=59), "59 days"),
        (timedelta(days=1), "1 day"),
        (timedelta(hours=23, minutes=50), "23 hours 50 minutes"),
        (timedelta(days=7, hours=1), "7 days 1 hour"),
    ],
)
def test_gap_texts_write_spans_as_people_do(length: timedelta, text: str) -> None:
    assert span(length) == text
    assert "0:00" not in reach_gap(SIEM_STREAMING, NOW - timedelta(days=3), NOW).reason  # type: ignore[union-attr]


# ---- no fixed lag: an overlap read again, the ids already handed out dropped --------------------

LIVE = [DLP, AUDIT, HOLD, TTP_URL, ARCHIVE_SEARCH, THREAT_INTEL_GRID]


@pytest.mark.parametrize("spec", LIVE, ids=lambda spec: spec.name)
def test_every_windowed_api_stream_reads_up_to_the_present_and_ten_minutes_back_again(
    spec: StreamSpec,
) -> None:
    assert spec.lag <= timedelta(seconds=10)
    assert spec.overlap == timedelta(minutes=10)


def test_the_next_window_starts_an_overlap_before_the_previous_end_and_remembers_that_end() -> None:
    end = (NOW - DLP.lag).replace(microsecond=0)
    closed = close_window(DLP, WindowCursor(start=end - timedelta(hours=1), end=end))
    assert closed.start == end - DLP.overlap
    assert closed.read_to == end
    assert closed.reached == end


def test_a_window_shorter_than_the_overlap_keeps_its_start_and_moves_its_read_mark() -> None:
    # Given a live window of two minutes, which started an overlap before the end before it
    start = (NOW - timedelta(minutes=12)).replace(microsecond=0)
    end = start + timedelta(minutes=12)
    cursor = WindowCursor(start=start, end=end, read_to=end - timedelta(minutes=2))
    closed = close_window(DLP, cursor)
    # Then the next window starts the overlap before this end, and has read up to it
    assert (closed.start, closed.read_to) == (end - DLP.overlap, end)


def test_a_closed_live_window_is_not_due_again_until_the_present_has_moved_on_the_minimum() -> None:
    # Given a window just read up to the present
    now = NOW.replace(microsecond=0)
    end = now - DLP.lag
    closed = close_window(DLP, WindowCursor(start=end - timedelta(hours=1), end=end))
    # Then it reads the overlap again only once the present has moved on `min_window`
    assert not is_due(DLP, closed, now)
    assert not is_due(DLP, closed, now + DLP.min_window - timedelta(seconds=1))
    opened = open_window(DLP, closed, now + DLP.min_window)
    assert opened is not None
    window = opened[0]
    assert (window.start, window.end) == (end - DLP.overlap, end + DLP.min_window)


def test_a_record_indexed_late_but_within_the_overlap_is_inside_the_next_window() -> None:
    # Given a window read up to `end`, and a record timed a second before it that Mimecast indexes
    # only later (up to the overlap late), after that window was read
    end = (NOW - DLP.lag).replace(microsecond=0)
    closed = close_window(DLP, WindowCursor(start=end - timedelta(minutes=3), end=end))
    record_time = end - timedelta(seconds=1)
    for late in (timedelta(seconds=30), DLP.overlap - timedelta(seconds=1)):
        # When the next window opens after it became readable
        opened = open_window(DLP, closed, record_time + late + DLP.lag + DLP.min_window)
        assert opened is not None
        window = opened[0]
        # Then the record's time is inside it
        assert window.start <= record_time < window.end  # type: ignore[operator]


def test_tuning_sets_the_deployments_overlap_and_a_minimum_no_longer_than_the_poll() -> None:
    tuned_dlp = tuned(DLP, timedelta(minutes=3), timedelta(seconds=2))
    assert (tuned_dlp.overlap, tuned_dlp.min_window) == (timedelta(minutes=3), timedelta(seconds=2))
    assert tuned(DLP, timedelta(minutes=3), timedelta(minutes=5)).min_window == DLP.min_window
    # SIEM streaming keeps its own overlap and opens a window each poll; batch files keep their rules
    streaming = tuned(SIEM_STREAMING, timedelta(minutes=3), timedelta(seconds=2))
    assert (streaming.overlap, streaming.min_window) == (SIEM_STREAMING.overlap, timedelta(seconds=2))
    assert streaming.lag == timedelta(seconds=5)
    assert tuned(SIEM_BATCH, timedelta(minutes=3), timedelta(seconds=2)) == SIEM_BATCH


@pytest.mark.parametrize("overlap", [timedelta(0), timedelta(hours=13)])
def test_an_overlap_that_would_stop_windows_moving_is_refused_with_its_reason(overlap: timedelta) -> None:
    with pytest.raises(ValueError, match="window overlap must be more than 0 and at most half"):
        tuned(DLP, overlap, timedelta(minutes=5))

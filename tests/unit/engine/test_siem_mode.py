"""SIEM mode as a specification: which reading a SIEM stream does (batch files or streaming), from
which checkpoint, and how it switches between them without a gap or a duplicate."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from core.engine import siem_mode
from core.engine.siem_mode import Limits, Plan, Quota, Reading
from core.lifecycle.health import ResourceIdentity, Severity
from core.mimecast import paging
from core.mimecast.records import to_record
from core.mimecast.streams import SIEM_BATCH, SIEM_STREAMING
from core.models import BatchCursor, Handover, SiemMode, WindowCursor, cursor_of_text, cursor_text

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
LIMITS = Limits()
NO_QUOTA = Quota()
AUTO, BATCH, STREAMING = SiemMode.AUTO, SiemMode.BATCH, SiemMode.STREAMING
MINUTE, HOUR = timedelta(minutes=1), timedelta(hours=1)


def decide(
    mode: SiemMode,
    stored: BatchCursor | WindowCursor | None,
    *,
    now: datetime = NOW,
    quota: Quota = NO_QUOTA,
    children: int = 0,
    collect_from: datetime | None = None,
    limits: Limits = LIMITS,
) -> Plan:
    return siem_mode.plan(mode, stored, now, limits, quota, children, collect_from)


def caught_up(token: str = "t9", **rest: object) -> BatchCursor:  # noqa: S107 - a page token
    """A batch stream whose last listing said it was caught up, its files all handed out."""
    return BatchCursor(token=token, caught_up=True, **rest)  # type: ignore[arg-type]


def between_windows(edge: datetime) -> WindowCursor:
    """A streaming cursor after its window [.., edge) closed (as `paging.step` leaves it)."""
    return WindowCursor(start=edge - SIEM_STREAMING.overlap, edge=edge)


# A new stream.


@pytest.mark.parametrize(
    ("mode", "collect_from", "reading"),
    [
        (AUTO, None, "batch"),  # the SIEM lookback is a day: older than the streaming reach
        (AUTO, NOW - timedelta(hours=23), "streaming"),
        (AUTO, NOW - timedelta(hours=25), "batch"),
        (AUTO, NOW - timedelta(days=3), "batch"),
        (BATCH, None, "batch"),
        (BATCH, NOW - timedelta(hours=1), "batch"),
        (STREAMING, None, "streaming"),
        (STREAMING, NOW - timedelta(days=3), "streaming"),  # kept as asked: the first fetch reports the gap
    ],
)
def test_a_new_stream_reads_as_its_mode_and_start_say(
    mode: SiemMode, collect_from: datetime | None, reading: str
) -> None:
    found = siem_mode.initial(mode, NOW, LIMITS, collect_from)
    assert siem_mode.spec_of(found) is (SIEM_STREAMING if reading == "streaming" else SIEM_BATCH)


def test_auto_streams_from_a_start_inside_the_reach_exactly_where_it_was_asked() -> None:
    asked = NOW - timedelta(hours=5)
    found = decide(AUTO, None, collect_from=asked)
    assert found.reading is Reading.STREAMING
    assert found.changed
    assert isinstance(found.cursor, WindowCursor)
    assert found.cursor.start == asked


def test_auto_with_a_long_look_back_reads_batch_and_plans_the_handover_a_settle_ago() -> None:
    """A stream that never listed has run no batch child: its handover point can lie `settle`
    in the past, so it is ready as soon as the batch files are read."""
    found = decide(AUTO, None, collect_from=NOW - timedelta(days=3))
    assert found.reading is Reading.BATCH
    assert found.changed
    cursor = found.cursor
    assert isinstance(cursor, BatchCursor)
    assert cursor.start_date == date(2026, 11, 22)
    assert cursor.handover == Handover(NOW - LIMITS.settle, None, date(2026, 11, 22))
    assert cursor.until == NOW - LIMITS.settle


def test_batch_mode_never_plans_a_handover() -> None:
    found = decide(BATCH, None)
    assert isinstance(found.cursor, BatchCursor)
    assert found.cursor.handover is None
    assert found.cursor.until is None


# Batch to streaming.


def test_a_caught_up_batch_stream_fixes_its_handover_at_now_and_keeps_listing() -> None:
    """Files listed before now were published before now: they hold only records timed before it."""
    found = decide(AUTO, caught_up("t9"))
    assert found.reading is Reading.BATCH
    assert found.changed
    assert isinstance(found.cursor, BatchCursor)
    assert found.cursor.handover == Handover(NOW, "t9", None)
    assert found.cursor.until == NOW


def test_a_batch_stream_still_listing_its_backlog_does_not_hand_over_yet() -> None:
    stored = BatchCursor(token="t3", caught_up=False)
    assert decide(AUTO, stored) == Plan(Reading.BATCH, stored)


def test_the_handover_point_is_never_before_what_streaming_already_delivered() -> None:
    edge = NOW - timedelta(minutes=20)
    stored = BatchCursor(start_date=edge.date(), since=edge)  # just switched from streaming
    found = decide(STREAMING, stored)
    assert isinstance(found.cursor, BatchCursor)
    assert found.cursor.handover is not None
    assert found.cursor.handover.at == edge


@pytest.mark.parametrize(("mode", "hands_over"), [(AUTO, False), (STREAMING, True)])
def test_after_a_quota_fallback_auto_stays_on_batch_for_the_hold(mode: SiemMode, hands_over: bool) -> None:
    stored = caught_up(streaming_after=NOW + MINUTE)
    found = decide(mode, stored)
    assert isinstance(found.cursor, BatchCursor)
    assert (found.cursor.handover is not None) is hands_over
    later = decide(AUTO, stored, now=NOW + 2 * MINUTE)
    assert isinstance(later.cursor, BatchCursor)
    assert later.cursor.handover is not None


def test_a_handover_waits_for_a_caught_up_listing_read_a_settle_after_its_point() -> None:
    at = NOW - timedelta(minutes=30)
    waiting = caught_up(until=at, handover=Handover(at, "t1", None))
    assert decide(AUTO, waiting).reading is Reading.BATCH

    assert siem_mode.listed(waiting, NOW, LIMITS) == waiting  # too soon after `at`
    not_caught_up = replace(waiting, caught_up=False)
    assert siem_mode.listed(not_caught_up, at + LIMITS.settle, LIMITS) == not_caught_up
    settled = siem_mode.listed(waiting, at + LIMITS.settle, LIMITS)
    assert isinstance(settled, BatchCursor)
    assert settled.handover is not None
    assert settled.handover.settled


def test_a_settled_handover_waits_for_every_batch_child_then_streams_from_its_point() -> None:
    at = NOW - timedelta(hours=2)
    settled = caught_up(until=at, handover=Handover(at, "t1", None, settled=True))

    assert decide(AUTO, settled, children=3).reading is Reading.WAIT
    found = decide(AUTO, settled, children=0)
    assert found.reading is Reading.STREAMING
    assert found.changed
    assert found.cursor == WindowCursor(start=at, since=at)
    assert found.spec is SIEM_STREAMING


def test_a_settled_handover_in_streaming_mode_streams_too() -> None:
    at = NOW - HOUR
    settled = caught_up(until=at, handover=Handover(at, "t1", None, settled=True))
    assert decide(STREAMING, settled).cursor == WindowCursor(start=at, since=at)


@pytest.mark.parametrize(
    ("handover", "expected"),
    [
        (Handover(NOW - HOUR, "t4", None, settled=True), BatchCursor(token="t4", since=NOW - HOUR)),
        (
            Handover(NOW - HOUR, None, date(2026, 11, 20), settled=True),
            BatchCursor(start_date=date(2026, 11, 20), since=NOW - HOUR),
        ),
    ],
)
def test_a_put_to_batch_undoes_a_settled_handover_by_listing_again_from_where_it_was_fixed(
    handover: Handover, expected: BatchCursor
) -> None:
    """Children made since the point handed out what came before it; the listing again hands out
    what came after."""
    stored = caught_up("t7", until=handover.at, handover=handover)
    found = decide(BATCH, stored, children=2)
    assert found.reading is Reading.BATCH
    assert found.changed
    assert found.cursor == expected


def test_a_put_to_batch_reads_on_until_the_handover_is_settled_before_undoing_it() -> None:
    """Before that, files holding records older than the point may still be unlisted: undone now,
    the listing again would drop those records as if they had been handed out."""
    handover = Handover(NOW - timedelta(minutes=10), "t4", None)
    stored = caught_up("t7", until=handover.at, handover=handover)
    assert decide(BATCH, stored) == Plan(Reading.BATCH, stored)


def test_a_handover_that_fell_out_of_the_streaming_reach_is_undone() -> None:
    at = NOW - timedelta(hours=24)
    stored = caught_up(until=at, handover=Handover(at, "t1", None, settled=True))
    found = decide(AUTO, stored)
    assert found.cursor == BatchCursor(token="t1", since=at)


# Streaming to batch.


def test_an_open_window_is_read_to_its_end_whatever_the_mode() -> None:
    open_window = WindowCursor(start=NOW - HOUR, end=NOW - MINUTE, page_token="p2")
    for mode in SiemMode:
        assert decide(mode, open_window) == Plan(Reading.STREAMING, open_window)


def test_a_put_to_batch_lists_files_from_the_day_of_the_streaming_edge_and_hands_out_from_the_edge() -> None:
    edge = datetime(2026, 11, 25, 10, 30, 15, tzinfo=UTC)
    found = decide(BATCH, between_windows(edge))
    assert found.reading is Reading.BATCH
    assert found.changed
    assert found.cursor == BatchCursor(start_date=date(2026, 11, 25), since=edge)


@pytest.mark.parametrize(
    ("cursor", "edge"),
    [
        (
            WindowCursor(start=NOW - HOUR - timedelta(seconds=1), edge=NOW - HOUR),
            NOW - HOUR,
        ),  # after a window
        (WindowCursor(start=NOW - HOUR, since=NOW - HOUR), NOW - HOUR),  # straight from a handover
        (WindowCursor(start=NOW - HOUR), NOW - HOUR),  # a new stream: nothing delivered yet
        (WindowCursor(start=NOW - HOUR, edge=NOW - 2 * HOUR), NOW - HOUR),  # moved into the reach (a gap)
    ],
)
def test_the_streaming_edge_is_where_everything_before_was_delivered(
    cursor: WindowCursor, edge: datetime
) -> None:
    assert siem_mode.edge_of(cursor) == edge


def test_auto_reads_batch_files_after_an_outage_longer_than_the_streaming_reach() -> None:
    edge = NOW - timedelta(hours=30)
    found = decide(AUTO, between_windows(edge))
    assert found.cursor == BatchCursor(start_date=edge.date(), since=edge)
    assert found.warning is None  # nothing is lost, nothing to warn about


def test_streaming_mode_stays_on_streaming_after_such_an_outage_and_reports_the_gap_when_it_reads() -> None:
    cursor = between_windows(NOW - timedelta(hours=30))
    assert decide(STREAMING, cursor) == Plan(Reading.STREAMING, cursor)


def test_auto_falls_back_to_batch_when_a_429_would_leave_streaming_too_far_behind() -> None:
    edge = NOW - timedelta(minutes=10)
    quota = Quota(paused_until=NOW + timedelta(minutes=40))
    found = decide(AUTO, between_windows(edge), quota=quota)
    assert found.reading is Reading.BATCH
    assert found.changed
    assert found.cursor == BatchCursor(start_date=edge.date(), since=edge, streaming_after=NOW + LIMITS.hold)
    assert found.warning is not None
    assert "cannot keep up within its quota" in found.warning
    assert "50 minutes behind" in found.warning


@pytest.mark.parametrize(
    "quota",
    [
        Quota(paused_until=NOW + timedelta(minutes=2)),  # a short pause: wait it out
        Quota(paused_until=NOW - MINUTE),  # over already
        NO_QUOTA,
    ],
)
def test_auto_keeps_streaming_through_a_pause_it_can_wait_out(quota: Quota) -> None:
    cursor = between_windows(NOW - timedelta(minutes=5))
    assert decide(AUTO, cursor, quota=quota) == Plan(Reading.STREAMING, cursor)


def test_streaming_mode_never_falls_back() -> None:
    cursor = between_windows(NOW - timedelta(minutes=10))
    found = decide(STREAMING, cursor, quota=Quota(paused_until=NOW + HOUR))
    assert found == Plan(Reading.STREAMING, cursor)


def test_since_is_dropped_after_a_caught_up_listing_read_a_settle_after_it() -> None:
    since = NOW - LIMITS.settle
    assert siem_mode.listed(BatchCursor(token="t1", since=since, caught_up=True), NOW, LIMITS) == BatchCursor(
        token="t1", caught_up=True
    )
    too_soon = BatchCursor(token="t1", since=since + MINUTE, caught_up=True)
    assert siem_mode.listed(too_soon, NOW, LIMITS) == too_soon
    listing_on = BatchCursor(token="t1", since=since, caught_up=False)  # old files may follow
    assert siem_mode.listed(listing_on, NOW, LIMITS) == listing_on
    assert decide(BATCH, BatchCursor(token="t1", since=since)).changed is False  # never at fetch time


# The records on each side of a boundary.


def _line(timestamp: int, **rest: object) -> str:
    import json

    return json.dumps({"accountId": "C0A0", "aggregateId": "a1", "timestamp": timestamp, **rest})


def test_a_batch_and_a_streaming_record_of_one_event_have_different_ids() -> None:
    """Why the switch rests on time: the two shapes of one event get different ids."""
    import json

    batch = json.loads(_line(1, _offset=7, _partition=3, type="receipt", subtype="Allow"))
    streaming = json.loads(_line(1, eventType="receipt", subType="Allow"))
    assert to_record(SIEM_BATCH, batch).id != to_record(SIEM_STREAMING, streaming).id


@pytest.mark.parametrize("shape", [{"type": "receipt"}, {"eventType": "receipt"}])
def test_batch_bounds_hand_out_the_records_timed_in_since_until_whichever_naming(
    shape: dict[str, str],
) -> None:
    since, until = datetime(2026, 11, 25, 10, tzinfo=UTC), datetime(2026, 11, 25, 11, tzinfo=UTC)
    ms = int(since.timestamp() * 1000)
    import json

    records = tuple(
        to_record(SIEM_BATCH, json.loads(_line(stamp, **shape)))
        for stamp in (ms - 1, ms, ms + 1, ms + 3_600_000 - 1, ms + 3_600_000)
    )
    untimed = to_record(SIEM_BATCH, {"aggregateId": "x", **shape})
    cursor = BatchCursor(token="t", since=since, until=until)
    kept = paging.in_bounds(SIEM_BATCH, (*records, untimed), cursor)
    assert kept == (records[1], records[2], records[3], untimed)
    assert paging.in_bounds(SIEM_BATCH, records, BatchCursor(token="t")) == records


def test_cursors_keep_their_siem_mode_parts_through_their_stored_form() -> None:
    batch = BatchCursor(
        token="t",
        since=NOW - HOUR,
        until=NOW,
        handover=Handover(NOW, "t0", date(2026, 11, 24), settled=True),
        streaming_after=NOW + HOUR,
    )
    window = WindowCursor(start=NOW - HOUR, edge=NOW - MINUTE)
    assert cursor_of_text(cursor_text(batch)) == batch
    assert cursor_of_text(cursor_text(window)) == window
    assert "handover" not in cursor_text(BatchCursor(token="t"))  # older forms are unchanged


# What the progress view and the health event say.


def test_progress_names_the_reading_a_handover_and_a_fallback() -> None:
    assert siem_mode.progress(AUTO, WindowCursor(start=NOW), NOW)["reading"] == "streaming"
    handing = siem_mode.progress(AUTO, caught_up(handover=Handover(NOW - HOUR, "t")), NOW)
    assert handing["reading"] == "batch"
    assert handing["handoverAt"] == "2026-11-25T11:00:00.000Z"
    fallback = siem_mode.progress(AUTO, caught_up(streaming_after=NOW + HOUR), NOW)
    assert "could not keep up within its quota" in fallback["note"]
    assert siem_mode.progress(BATCH, None, NOW) == {
        "siemMode": "batch",
        "reading": None,
        "handoverAt": None,
        "note": None,
    }


def test_the_fallback_event_is_a_warning_refreshed_rather_than_piled_up() -> None:
    resource = ResourceIdentity("c1", "collector", "s1", "source")
    first = siem_mode.fallback_event("why", resource, NOW, "E1", open_events={})
    assert first.severity is Severity.WARNING
    assert first.event_name == siem_mode.FALLBACK_EVENT
    again = siem_mode.fallback_event(
        "why again", resource, NOW + HOUR, "E2", open_events={first.event_name: first}
    )
    assert again.event_id == "E1"
    assert again.description == "why again"

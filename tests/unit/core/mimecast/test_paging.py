"""paging: requests for a cursor, and (spec, cursor, response) -> (records, next cursor, finished)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from core.errors import RepeatedPageToken
from core.mimecast import paging
from core.mimecast.records import record_id
from core.mimecast.streams import AUDIT, DLP, HOLD, SIEM_BATCH, SIEM_STREAMING
from core.models import BatchCursor, KnownIds, WindowCursor, digest

START = datetime(2024, 6, 1, tzinfo=UTC)
END = START + timedelta(hours=1)
WINDOW = WindowCursor(start=START, end=END)


def envelope(records: list[Any], next_token: str | None = None, nested: bool = False) -> dict[str, Any]:
    pagination: dict[str, Any] = {"pageSize": 2}
    if next_token is not None:
        pagination["next"] = next_token
    data: list[Any] = [{"dlpLogs": records}] if nested else records
    return {"meta": {"status": 200, "pagination": pagination}, "data": data, "fail": []}


def audit(n: int, minute: int = 30) -> dict[str, Any]:
    when = (START + timedelta(minutes=minute)).strftime("%Y-%m-%dT%H:%M:%S+0000")
    return {"id": f"a{n}", "auditType": "User Logged On", "eventTime": when}


def held(n: int) -> dict[str, Any]:
    return {"id": f"h{n}", "dateReceived": "2024-06-01T00:10:00+0000", "subject": f"s{n}"}


# ---- requests ---------------------------------------------------------------------------------


def test_the_first_page_of_an_api_window_sends_the_filter_and_no_page_token() -> None:
    request = paging.window_request(DLP, WINDOW)
    assert (request.method, request.path) == ("POST", "/api/dlp/get-logs")
    assert request.body == {
        "meta": {"pagination": {"pageSize": 500}},
        "data": [{"from": "2024-06-01T00:00:00+0000", "to": "2024-06-01T01:00:00+0000", "oldestFirst": True}],
    }


def test_a_later_page_sends_the_same_filter_with_the_page_token() -> None:
    request = paging.window_request(HOLD, WindowCursor(start=START, end=END, page_token="eNq2"))
    assert request.body == {
        "meta": {"pagination": {"pageSize": 500, "pageToken": "eNq2"}},
        "data": [{"start": "2024-06-01T00:00:00+0000", "end": "2024-06-01T01:00:00+0000", "admin": True}],
    }


def test_the_streaming_endpoint_is_asked_by_query_with_millisecond_bounds() -> None:
    request = paging.window_request(SIEM_STREAMING, WindowCursor(start=START, end=END, page_token="n1"))
    assert (request.method, request.path, request.body) == ("GET", "/siem/v1/events/cg", None)
    assert dict(request.params) == {
        "dateRangeStartsAt": "2024-06-01T00:00:00.000Z",
        "dateRangeEndsAt": "2024-06-01T01:00:00.000Z",
        "pageSize": "100",
        "nextPage": "n1",
    }


def test_a_window_must_be_open_before_it_is_asked_for() -> None:
    with pytest.raises(ValueError, match="open the window"):
        paging.window_request(DLP, WindowCursor(start=START))


def test_the_first_siem_listing_is_asked_by_day_and_later_ones_by_next_page_only() -> None:
    first = dict(paging.listing_request(SIEM_BATCH, BatchCursor(start_date=date(2024, 6, 1))).params)
    later = dict(paging.listing_request(SIEM_BATCH, BatchCursor(token="NDU1NA==")).params)
    assert first["dateRangeStartsAt"] == "2024-06-01"
    assert "nextPage" not in first
    assert later["nextPage"] == "NDU1NA=="
    assert "dateRangeStartsAt" not in later
    assert first["type"].split(",")[:3] == ["receipt", "process", "delivery"]
    assert first["pageSize"] == "100"


# ---- windows ----------------------------------------------------------------------------------


def test_a_page_with_a_next_token_keeps_the_window_and_follows_the_token() -> None:
    step = paging.step(AUDIT, WINDOW, envelope([audit(1), audit(2)], next_token="p2"))
    assert [record.id for record in step.records] == ["a1", "a2"]
    assert not step.finished
    assert (step.cursor.start, step.cursor.end, step.cursor.page_token) == (START, END, "p2")


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (envelope([audit(1)]), "next is missing"),
        (envelope([audit(1)], next_token=""), "next is empty"),
        (envelope([], next_token="placeholder"), "the page holds no records"),
    ],
)
def test_the_window_ends_when_next_is_missing_or_empty_or_the_page_is_empty(
    body: dict[str, Any], why: str
) -> None:
    step = paging.step(AUDIT, WindowCursor(start=START, end=END, page_token="p3"), body)
    assert step.finished, why
    assert step.cursor == WindowCursor(start=END - AUDIT.overlap, known=step.cursor.known, read_to=END)


def test_audit_read_newest_first_moves_its_window_only_after_the_last_page() -> None:
    # Given a window whose newest events come on the first page
    first = paging.step(AUDIT, WINDOW, envelope([audit(3, minute=59), audit(2, minute=40)], next_token="p2"))
    # Then the window is still the same after it
    assert (first.cursor.start, first.cursor.end) == (START, END)
    last = paging.step(AUDIT, first.cursor, envelope([audit(1, minute=1)]))
    assert last.finished
    assert last.cursor.start == END - AUDIT.overlap
    assert last.cursor.page_token is None


def test_dlp_records_are_read_from_the_nested_dlp_logs() -> None:
    log = {"senderAddress": "a@x", "eventTime": "2024-06-01T00:03:14+0000"}
    step = paging.step(DLP, WINDOW, envelope([log], next_token="p2", nested=True))
    assert [record.raw for record in step.records] == [log]
    assert not step.finished


def test_dlp_records_in_a_flat_list_are_read_too() -> None:
    log = {"senderAddress": "a@x", "eventTime": "2024-06-01T00:03:14+0000"}
    assert [record.raw for record in paging.step(DLP, WINDOW, envelope([log])).records] == [log]


def test_dlp_stops_on_an_empty_dlp_logs_list_even_with_a_next_token() -> None:
    assert paging.step(DLP, WINDOW, envelope([], next_token="p9", nested=True)).finished


def test_a_page_token_seen_before_in_the_window_raises() -> None:
    first = paging.step(AUDIT, WINDOW, envelope([audit(1)], next_token="p2"))
    second = paging.step(AUDIT, first.cursor, envelope([audit(2)], next_token="p3"))
    with pytest.raises(RepeatedPageToken):
        paging.step(AUDIT, second.cursor, envelope([audit(3)], next_token="p2"))
    with pytest.raises(RepeatedPageToken):
        paging.step(AUDIT, second.cursor, envelope([audit(3)], next_token="p3"))


def test_a_record_that_is_not_an_object_is_quarantined_and_the_page_goes_on() -> None:
    step = paging.step(AUDIT, WINDOW, envelope([audit(1), "junk", audit(2)]))
    assert [record.id for record in step.records] == ["a1", "a2"]
    assert [(q.position, q.reason) for q in step.quarantined] == [(1, "record is not a JSON object")]


def test_a_record_at_the_window_edge_is_not_handed_out_again_by_the_next_window() -> None:
    # Given Mimecast reads `to` as inclusive: a record exactly at the end comes in this window
    edge = audit(7, minute=60)
    closed = paging.step(AUDIT, WINDOW, envelope([edge])).cursor
    # When the next window (starting at the edge) lists it again
    reopened = WindowCursor(start=closed.start, end=closed.start + timedelta(hours=1), known=closed.known)
    again = paging.step(AUDIT, reopened, envelope([edge, audit(8, minute=70)]))
    # Then only the new record comes out
    assert [record.id for record in again.records] == ["a8"]


def test_records_away_from_the_edge_are_not_remembered() -> None:
    closed = paging.step(AUDIT, WINDOW, envelope([audit(1, minute=10)])).cursor
    assert len(closed.known) == 0


def test_a_held_message_is_not_forwarded_again_while_it_stays_listed() -> None:
    # Given a hold list that lists the whole queue in every window
    first = paging.step(HOLD, WINDOW, envelope([held(1), held(2)]))
    later = WindowCursor(
        start=first.cursor.start, end=first.cursor.start + timedelta(hours=1), known=first.cursor.known
    )
    second = paging.step(HOLD, later, envelope([held(1), held(2), held(3)]))
    # Then only the newly held message comes out
    assert [record.id for record in first.records] == ["h1", "h2"]
    assert [record.id for record in second.records] == ["h3"]


def test_the_hold_list_memory_forgets_messages_no_longer_listed() -> None:
    cursor = WINDOW
    for page in ([held(1), held(2)], [held(2)], [held(2)]):
        cursor = paging.step(HOLD, cursor, envelope(page)).cursor
        cursor = WindowCursor(start=cursor.start, end=cursor.start + timedelta(hours=1), known=cursor.known)
    # h1 left the list two windows ago; only h2 is remembered
    assert len(cursor.known) == 1


def test_streaming_events_repeated_at_the_top_of_the_next_page_are_dropped() -> None:
    events = [
        {"timestamp": 1717200000000 + n, "eventType": "receipt", "processingId": f"p{n}"} for n in range(5)
    ]
    first = paging.step(SIEM_STREAMING, WINDOW, {"value": events[:3], "@nextPage": "n2", "isCaughtUp": False})
    second = paging.step(
        SIEM_STREAMING, first.cursor, {"value": events[2:], "@nextPage": "n3", "isCaughtUp": True}
    )
    assert len(first.records) == 3
    assert [record.raw for record in second.records] == events[3:]
    assert second.finished
    assert second.cursor.page_token is None


def test_streaming_stops_when_caught_up_or_without_a_next_page() -> None:
    event = {"timestamp": 1, "eventType": "av"}
    assert paging.step(
        SIEM_STREAMING, WINDOW, {"value": [event], "@nextPage": "n", "isCaughtUp": True}
    ).finished
    assert paging.step(SIEM_STREAMING, WINDOW, {"value": [event], "isCaughtUp": False}).finished
    assert paging.step(SIEM_STREAMING, WINDOW, {"value": [], "@nextPage": "n", "isCaughtUp": False}).finished
    assert not paging.step(SIEM_STREAMING, WINDOW, {"value": [event], "@nextPage": "n"}).finished


def test_the_same_record_twice_in_one_page_comes_out_once() -> None:
    assert len(paging.step(AUDIT, WINDOW, envelope([audit(1), audit(1)])).records) == 1


def test_remembered_ids_are_not_handed_out() -> None:
    cursor = WindowCursor(start=START, end=END, known=KnownIds.of({digest("h1"): int(START.timestamp())}))
    assert [record.id for record in paging.step(HOLD, cursor, envelope([held(1), held(2)])).records] == ["h2"]


# ---- SIEM batch -------------------------------------------------------------------------------


def url(name: str, signature: str = "sig1") -> str:
    return f"https://bucket.s3.amazonaws.com/siem/{name}.gz?X-Amz-Expires=60&X-Amz-Signature={signature}"


def listing(
    names: list[str], next_page: str | None, caught_up: bool, signature: str = "sig1"
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "value": [
            {"url": url(n, signature), "size": 10, "expiry": "2024-06-01T01:00:00.000Z"} for n in names
        ],
        "isCaughtUp": caught_up,
    }
    if next_page is not None:
        body["@nextPage"] = next_page
    return body


def test_a_listing_reads_each_file_once_even_when_mimecast_repeats_its_url() -> None:
    body = listing(["a", "b", "a"], "T1", caught_up=False)
    body["value"].append({"url": url("b", signature="other"), "size": 10})
    result = paging.listed(SIEM_BATCH, BatchCursor(start_date=date(2024, 6, 1)), body)
    assert [file.key for file in result.files] == [
        "https://bucket.s3.amazonaws.com/siem/a.gz",
        "https://bucket.s3.amazonaws.com/siem/b.gz",
    ]
    assert result.cursor.files == tuple(file.key for file in result.files)
    assert (result.cursor.next_token, result.cursor.file_index, result.cursor.line) == ("T1", 0, 0)


def test_an_empty_caught_up_listing_keeps_the_newest_next_page_for_the_next_poll() -> None:
    result = paging.listed(SIEM_BATCH, BatchCursor(token="T1"), listing([], "T2", caught_up=True))
    assert result.files == ()
    assert result.cursor == BatchCursor(token="T2", caught_up=True)
    assert paging.batch_finished(result.cursor)


def test_an_empty_listing_without_a_next_page_keeps_the_old_one() -> None:
    result = paging.listed(SIEM_BATCH, BatchCursor(token="T1"), listing([], None, caught_up=True))
    assert result.cursor.token == "T1"


def test_new_files_with_the_same_next_page_would_loop_and_raise() -> None:
    with pytest.raises(RepeatedPageToken):
        paging.listed(SIEM_BATCH, BatchCursor(token="T1"), listing(["a"], "T1", caught_up=True))


def test_the_cursor_walks_the_files_line_by_line_then_takes_the_next_page() -> None:
    cursor = paging.listed(
        SIEM_BATCH, BatchCursor(token="T1"), listing(["a", "b"], "T2", caught_up=True)
    ).cursor
    cursor = paging.file_read(cursor, 5000, eof=False)
    assert (cursor.reading, cursor.line, cursor.token) == (
        "https://bucket.s3.amazonaws.com/siem/a.gz",
        5000,
        "T1",
    )
    cursor = paging.file_read(cursor, 7000, eof=True)
    assert (cursor.file_index, cursor.line) == (1, 0)
    cursor = paging.file_done(cursor)  # b is reported as a gap
    assert cursor == BatchCursor(token="T2", caught_up=True)
    assert paging.batch_finished(cursor)


def test_a_listing_that_is_not_caught_up_is_followed_by_another_listing() -> None:
    cursor = paging.listed(SIEM_BATCH, BatchCursor(token="T1"), listing(["a"], "T2", caught_up=False)).cursor
    cursor = paging.file_read(cursor, 10, eof=True)
    assert cursor.token == "T2"
    assert not paging.batch_finished(cursor)
    with pytest.raises(RepeatedPageToken):  # T2 leading back to T1 would loop
        paging.listed(SIEM_BATCH, cursor, listing(["c"], "T1", caught_up=False))


@pytest.mark.parametrize("inclusive_end", [True, False])
def test_adjacent_sub_windows_hand_out_a_record_at_their_shared_edge_exactly_once(
    inclusive_end: bool,
) -> None:
    # Given two sub-windows that meet at `edge`, each asking from a second before what it owns
    edge = START + timedelta(minutes=30)
    first = WindowCursor(start=START - timedelta(seconds=1), end=edge, since=START, until=edge)
    second = WindowCursor(start=edge - timedelta(seconds=1), end=edge + timedelta(minutes=30), since=edge,
                          until=edge + timedelta(minutes=30))  # fmt: skip
    at_edge, before, after = audit(1, 30), audit(2, 29), audit(3, 31)
    # When Mimecast answers each with whatever its bounds include (an inclusive or exclusive end)
    first_answer = [before, at_edge] if inclusive_end else [before]
    second_answer = [at_edge, after]
    handed = [r.id for r in paging.step(AUDIT, first, envelope(first_answer)).records]
    handed += [r.id for r in paging.step(AUDIT, second, envelope(second_answer)).records]
    # Then each record is handed out once, by the sub-window that owns its time
    assert sorted(handed) == ["a1", "a2", "a3"]


def test_a_record_without_a_readable_time_is_handed_out_by_a_bounded_window() -> None:
    bounded = WindowCursor(
        start=START, end=START + timedelta(hours=1), since=START, until=START + timedelta(hours=1)
    )
    undated = {"id": "a9", "auditType": "User Logged On", "eventTime": "not a time"}
    assert [r.id for r in paging.step(AUDIT, bounded, envelope([undated])).records] == ["a9"]


# ---- the overlap read again: what is remembered, what is dropped --------------------------------


def dlp(n: int, at: datetime) -> dict[str, Any]:
    return {"messageId": f"m{n}", "eventTime": at.strftime("%Y-%m-%dT%H:%M:%S+0000"), "action": "notify"}


def test_a_handed_out_id_is_remembered_by_its_time_only_if_the_next_window_reads_it_again() -> None:
    # Given a window whose end is an hour after its start, and records before and inside the overlap
    early, late = dlp(1, END - DLP.overlap - timedelta(seconds=1)), dlp(2, END - DLP.overlap)
    step = paging.step(DLP, WINDOW, envelope([early, late], nested=True))
    # Then only the record the next window reads again is remembered, by its own time
    remembered = {key: step.cursor.known.time_of(key) for key in (digest_of(early), digest_of(late))}
    assert remembered == {digest_of(early): None, digest_of(late): int((END - DLP.overlap).timestamp())}


def test_a_window_that_reads_the_overlap_again_hands_out_only_the_records_indexed_late() -> None:
    # Given a window read up to END, then the next one, which starts an overlap before END
    on_time = [dlp(n, END - timedelta(minutes=n)) for n in (1, 2, 3)]
    first = paging.step(DLP, WINDOW, envelope(on_time, nested=True))
    opened = replace(first.cursor, end=END + timedelta(minutes=5))
    # When Mimecast now also lists a record timed before END that it indexed late
    indexed_late = dlp(9, END - timedelta(seconds=30))
    second = paging.step(DLP, opened, envelope([*on_time, indexed_late], nested=True))
    # Then only that record comes out; every record came out once
    assert [record.raw["messageId"] for record in second.records] == ["m9"]
    assert opened.start == END - DLP.overlap


def test_a_record_without_a_readable_time_is_remembered_until_no_window_can_return_it() -> None:
    undated = {"messageId": "m1", "action": "notify"}
    step = paging.step(DLP, WINDOW, envelope([undated], nested=True))
    assert step.cursor.known.time_of(digest_of(undated)) == int(END.timestamp())


def test_the_hold_list_remembers_what_it_lists_by_the_window_end_whatever_the_message_time() -> None:
    step = paging.step(HOLD, WINDOW, envelope([held(1)]))
    assert step.cursor.known.time_of(digest("h1")) == int(END.timestamp())


def digest_of(raw: dict[str, Any]) -> str:
    return digest(record_id(DLP, raw))

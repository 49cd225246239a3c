"""The collections of `spec/mimecast-api-more.md`: their requests, windows, reach, ids and errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.errors import RepeatedPageToken, ThirdPartyConfigError
from core.mimecast import paging, windows
from core.mimecast.classify import CallKind, classify, json_body
from core.mimecast.records import record_id, to_record
from core.mimecast.streams import (
    ARCHIVE_SEARCH,
    CLOUD_INTEGRATED,
    HOLD_RELEASE,
    THREAT_INTEL_CUSTOMER,
    THREAT_INTEL_GRID,
    TTP_ATTACHMENT,
    TTP_IMPERSONATION,
    TTP_URL,
    Collection,
    PagingKind,
    StreamSpec,
    spec_for,
)
from core.models import KEPT_HEADERS, BatchCursor, WindowCursor
from core.processing.metadata import siem_event_id

START = datetime(2024, 11, 13, tzinfo=UTC)
END = START + timedelta(hours=1)
WINDOW = WindowCursor(start=START, end=END)
NOW = datetime(2024, 11, 20, 12, 0, tzinfo=UTC)
WINDOWED = [TTP_URL, TTP_ATTACHMENT, TTP_IMPERSONATION, ARCHIVE_SEARCH, HOLD_RELEASE]
FEEDS = [THREAT_INTEL_CUSTOMER, THREAT_INTEL_GRID]
NEXT = "x-mc-threat-feed-next-token"


def stamp(minutes: float) -> str:
    return (START + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S+0000")


# ---- every new value is a collection with its own spec -------------------------------------------


@pytest.mark.parametrize(
    ("value", "spec"),
    [
        ("ttpUrl", TTP_URL),
        ("ttpAttachment", TTP_ATTACHMENT),
        ("ttpImpersonation", TTP_IMPERSONATION),
        ("archiveSearch", ARCHIVE_SEARCH),
        ("holdReleaseLog", HOLD_RELEASE),
        ("cloudIntegrated", CLOUD_INTEGRATED),
        ("threatIntelCustomer", THREAT_INTEL_CUSTOMER),
        ("threatIntelGrid", THREAT_INTEL_GRID),
    ],
)
def test_each_new_data_collection_value_is_collected_by_its_own_spec(value: str, spec: StreamSpec) -> None:
    assert spec_for(value) is spec
    assert spec.name == value == spec.collection.value
    assert Collection(value) is spec.collection


# ---- requests ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "path", "data"),
    [
        (TTP_URL, "/api/ttp/url/get-logs", {"from": "2024-11-13T00:00:00+0000",
         "to": "2024-11-13T01:00:00+0000", "oldestFirst": True, "route": "all", "scanResult": "all"}),
        (TTP_ATTACHMENT, "/api/ttp/attachment/get-logs", {"from": "2024-11-13T00:00:00+0000",
         "to": "2024-11-13T01:00:00+0000", "oldestFirst": True, "route": "all", "result": "all"}),
        (TTP_IMPERSONATION, "/api/ttp/impersonation/get-logs", {"from": "2024-11-13T00:00:00+0000",
         "to": "2024-11-13T01:00:00+0000", "oldestFirst": True}),
        (ARCHIVE_SEARCH, "/api/archive/get-archive-search-logs", {"start": "2024-11-13T00:00:00+0000",
         "end": "2024-11-13T01:00:00+0000"}),
        (HOLD_RELEASE, "/api/gateway/get-held-release-logs", {"start": "2024-11-13T00:00:00+0000",
         "end": "2024-11-13T01:00:00+0000"}),
    ],
)  # fmt: skip
def test_each_log_window_is_asked_with_its_own_fields_oldest_first_where_it_can_be(
    spec: StreamSpec, path: str, data: dict[str, Any]
) -> None:
    request = paging.window_request(spec, WindowCursor(start=START, end=END, page_token="eNo1"))
    assert (request.method, request.path) == ("POST", path)
    assert request.body == {"meta": {"pagination": {"pageSize": 500, "pageToken": "eNo1"}}, "data": [data]}


@pytest.mark.parametrize(
    ("spec", "feed_type"), [(THREAT_INTEL_CUSTOMER, "malware_customer"), (THREAT_INTEL_GRID, "malware_grid")]
)
def test_the_feed_is_asked_for_a_stix_bundle_without_meta_and_keeps_the_token_header(
    spec: StreamSpec, feed_type: str
) -> None:
    first = paging.window_request(spec, WINDOW)
    assert (first.method, first.path) == ("POST", "/api/ttp/threat-intel/get-feed")
    window = {"start": "2024-11-13T00:00:00Z", "end": "2024-11-13T01:00:00Z"}
    assert first.body == {"data": [{**window, "feedType": feed_type, "fileType": "stix", "compress": False}]}
    assert first.keep_headers == ("X-Mc-Threat-Feed-Next-Token",)
    later = paging.window_request(spec, WindowCursor(start=START, end=END, page_token="tok1"))
    assert later.body is not None
    assert later.body["data"][0]["token"] == "tok1"
    assert later.body["data"][0]["start"] == window["start"]  # the window goes along (Azure's form)


def test_cloud_integrated_lists_batch_files_of_every_type_by_day_then_by_next_page() -> None:
    assert CLOUD_INTEGRATED.paging is PagingKind.BATCH
    first = paging.listing_request(CLOUD_INTEGRATED, BatchCursor(start_date=START.date()))
    assert first.path == "/siem/v1/batch/events/ci"
    assert dict(first.params) == {
        "pageSize": "100",
        "type": "entities,mailflow,urlclick",
        "dateRangeStartsAt": "2024-11-13",
    }
    later = paging.listing_request(CLOUD_INTEGRATED, BatchCursor(token="np"))
    assert dict(later.params)["nextPage"] == "np"


# ---- windows and reach ---------------------------------------------------------------------------


@pytest.mark.parametrize("spec", [*WINDOWED, *FEEDS], ids=lambda spec: spec.name)
def test_a_new_windowed_stream_starts_a_day_back_and_its_window_ends_a_safety_lag_before_now(
    spec: StreamSpec,
) -> None:
    cursor = windows.initial_cursor(spec, NOW)
    assert isinstance(cursor, WindowCursor)
    assert cursor.start == NOW - timedelta(days=1)
    opened = windows.open_window(spec, cursor, NOW)
    assert opened is not None
    window, gap = opened
    assert gap is None
    assert window.end == NOW - spec.lag
    closed = windows.close_window(spec, window)
    assert closed.start == NOW - spec.lag - spec.overlap  # the next window reads the edge again


@pytest.mark.parametrize(
    ("spec", "reach"),
    [*((spec, timedelta(days=29)) for spec in WINDOWED), *((spec, timedelta(days=6)) for spec in FEEDS)],
    ids=lambda value: value.name if isinstance(value, StreamSpec) else str(value.days),
)
def test_a_reset_older_than_the_reach_starts_at_the_reach_and_names_the_rest_as_a_gap(
    spec: StreamSpec, reach: timedelta
) -> None:
    since = NOW - reach - timedelta(days=3)
    cursor = windows.initial_cursor(spec, NOW, since=since)
    assert isinstance(cursor, WindowCursor)
    assert cursor.start == NOW - reach
    gap = windows.reach_gap(spec, since, NOW)
    assert gap is not None
    assert gap.what.startswith(spec.name)
    assert windows.reach_gap(spec, NOW - reach + timedelta(hours=1), NOW) is None


def test_cloud_integrated_reaches_seven_days_back_like_siem_batch() -> None:
    cursor = windows.initial_cursor(CLOUD_INTEGRATED, NOW, since=NOW - timedelta(days=30))
    assert isinstance(cursor, BatchCursor)
    assert cursor.start_date == (NOW - timedelta(days=6)).date()


@pytest.mark.parametrize("spec", WINDOWED, ids=lambda spec: spec.name)
def test_a_record_at_the_inclusive_window_end_is_read_once_across_two_windows(spec: StreamSpec) -> None:
    edge = record_for(spec, at=60)  # exactly at the window's end: the routes include it
    first = paging.step(spec, WINDOW, page(spec, [record_for(spec, at=10), edge]))
    assert first.finished
    assert len(first.records) == 2
    assert first.cursor.start == END - spec.overlap
    second_window = windows.open_window(spec, first.cursor, END + timedelta(minutes=30))
    assert second_window is not None
    second = paging.step(spec, second_window[0], page(spec, [edge, record_for(spec, at=61)]))
    assert [record.raw for record in second.records] == [record_for(spec, at=61)]


# ---- ids -----------------------------------------------------------------------------------------


def attachment(file_hash: str, name: str, recipient: str = "charles@corp.example") -> dict[str, Any]:
    return {
        "senderAddress": "<>",
        "recipientAddress": recipient,
        "fileName": name,
        "result": "malicious",
        "date": "2021-10-14T11:24:23+0000",
        "messageId": "<675ddc8c@mail.example.net>",
        "fileHash": file_hash,
    }


def test_two_attachments_of_one_message_with_equal_message_id_and_date_keep_distinct_ids() -> None:
    first, second = attachment("a" * 64, "Titus 1.docx"), attachment("b" * 64, "Titus 2.docx")
    assert record_id(TTP_ATTACHMENT, first) != record_id(TTP_ATTACHMENT, second)
    other_recipient = attachment("a" * 64, "Titus 1.docx", recipient="dana@corp.example")
    assert record_id(TTP_ATTACHMENT, first) != record_id(TTP_ATTACHMENT, other_recipient)
    assert record_id(TTP_ATTACHMENT, first) == record_id(TTP_ATTACHMENT, dict(reversed(first.items())))


def test_clicks_of_one_message_by_two_users_or_twice_by_one_user_keep_distinct_ids() -> None:
    click = {"userEmailAddress": "mike@corp.example", "url": "https://x.example/a", "date": stamp(1),
             "messageId": "<m@x>", "creationMethod": "User Click"}  # fmt: skip
    other_user = {**click, "userEmailAddress": "greg@corp.example"}
    again_later = {**click, "date": stamp(2)}
    ids = {record_id(TTP_URL, item) for item in (click, other_user, again_later)}
    assert len(ids) == 3


def test_impersonation_logs_are_named_by_their_mtoken_and_hashed_without_one() -> None:
    log = {"id": "MTOKEN:eNqrVkouLS7Jz00", "eventTime": stamp(1), "hits": 2}
    assert record_id(TTP_IMPERSONATION, log) == "MTOKEN:eNqrVkouLS7Jz00"
    without = {key: value for key, value in log.items() if key != "id"}
    assert record_id(TTP_IMPERSONATION, without).startswith("ttpImpersonation-")


def test_two_release_entries_of_one_held_message_are_two_records_a_reread_is_one() -> None:
    released = {"id": "eNoNjt0KgjAYQN9l", "status": "released", "released": stamp(1)}
    rejected_later = {**released, "status": "rejected", "released": stamp(9)}
    assert record_id(HOLD_RELEASE, released) != record_id(HOLD_RELEASE, rejected_later)
    assert record_id(HOLD_RELEASE, released) == record_id(HOLD_RELEASE, dict(released))


def test_byte_identical_archive_search_rows_cannot_be_told_apart_and_share_an_id() -> None:
    row = {
        "createTime": stamp(1),
        "emailAddr": "<>",
        "source": "archive",
        "searchText": "x",
        "description": "d",
    }
    assert record_id(ARCHIVE_SEARCH, row) == record_id(ARCHIVE_SEARCH, dict(row))
    assert record_id(ARCHIVE_SEARCH, row) != record_id(ARCHIVE_SEARCH, {**row, "createTime": stamp(2)})


def test_cloud_integrated_records_are_named_by_their_kafka_coordinates_and_say_their_type() -> None:
    record = {
        "_offset": 1790506,
        "_partition": 53,
        "accountId": "AUS2474",
        "type": "entities",
        "timestamp": 1,
    }
    moved = {**record, "_offset": 1790507}
    made = to_record(CLOUD_INTEGRATED, record)
    assert made.id != to_record(CLOUD_INTEGRATED, moved).id
    assert made.id == to_record(CLOUD_INTEGRATED, {**record, "timestamp": 2}).id
    assert made.id.startswith("cloudIntegrated-")
    assert made.kind == "entities"


def test_stix_objects_are_named_by_their_id_and_say_their_type_even_for_one_hash() -> None:
    pattern = "[file:hashes.'SHA-256' = '275a']"
    one = {
        "type": "indicator",
        "id": "indicator--1",
        "pattern": pattern,
        "created": "2024-11-18T16:08:27.231Z",
    }
    two = {**one, "id": "indicator--2"}
    assert to_record(THREAT_INTEL_CUSTOMER, one).id == "indicator--1"
    assert to_record(THREAT_INTEL_CUSTOMER, two).id == "indicator--2"
    assert to_record(THREAT_INTEL_CUSTOMER, one).kind == "indicator"
    assert to_record(TTP_URL, {"date": stamp(1)}).kind == "ttpUrl"


@pytest.mark.parametrize(
    ("collection", "event_id"),
    [("ttpUrl", "ttp"), ("ttpAttachment", "ttp"), ("ttpImpersonation", "ttp"), ("archiveSearch", "archive"),
     ("holdReleaseLog", "release"), ("cloudIntegrated", "ci"), ("threatIntelCustomer", "malware_customer"),
     ("threatIntelGrid", "malware_grid")],
)  # fmt: skip
def test_siem_forwarding_names_each_new_collection(collection: str, event_id: str) -> None:
    assert siem_event_id(collection, collection) == event_id


# ---- the feed's paging ---------------------------------------------------------------------------


def bundle(objects: list[dict[str, Any]], token: str | None) -> dict[str, Any]:
    headers = {NEXT: token} if token is not None else {}
    return {"type": "bundle", "id": "bundle--1", "objects": objects, KEPT_HEADERS: headers}


def stix(n: int, minute: float = 10) -> dict[str, Any]:
    created = (START + timedelta(minutes=minute)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return {"type": "indicator", "id": f"indicator--{n}", "created": created}


def test_the_feed_follows_its_next_token_header_and_ends_when_the_header_is_absent() -> None:
    first = paging.step(THREAT_INTEL_GRID, WINDOW, bundle([stix(1), stix(2)], "t1"))
    assert not first.finished
    assert first.cursor.page_token == "t1"
    last = paging.step(THREAT_INTEL_GRID, first.cursor, bundle([stix(3)], None))
    assert last.finished
    assert [r.id for r in first.records + last.records] == ["indicator--1", "indicator--2", "indicator--3"]
    assert last.cursor.end is None
    assert last.cursor.page_token is None


def test_a_last_page_that_repeats_the_token_it_was_asked_with_ends_the_window_too() -> None:
    first = paging.step(THREAT_INTEL_CUSTOMER, WINDOW, bundle([stix(1)], "t1"))
    last = paging.step(THREAT_INTEL_CUSTOMER, first.cursor, bundle([stix(2)], "t1"))
    assert last.finished
    assert [r.id for r in last.records] == ["indicator--2"]


def test_a_feed_token_given_again_later_in_one_window_is_refused() -> None:
    first = paging.step(THREAT_INTEL_CUSTOMER, WINDOW, bundle([stix(1)], "t1"))
    second = paging.step(THREAT_INTEL_CUSTOMER, first.cursor, bundle([stix(2)], "t2"))
    with pytest.raises(RepeatedPageToken):
        paging.step(THREAT_INTEL_CUSTOMER, second.cursor, bundle([stix(3)], "t1"))


def test_the_feeds_no_results_answer_is_an_empty_window_not_an_error() -> None:
    body = {"meta": {"status": 200}, "data": [], "fail": [{"key": {}, "errors": [
        {"code": "err_threat_intel_feed_no_result_found",
         "message": "No results found for threat intel feed.", "retryable": False}]}]}  # fmt: skip
    raw = json.dumps(body).encode()
    assert classify(CallKind.API, 200, {}, raw, 0) is None
    parsed = json_body(CallKind.API, 200, {}, raw, 0)
    step = paging.step(THREAT_INTEL_CUSTOMER, WINDOW, {**parsed, KEPT_HEADERS: {}})
    assert step.finished
    assert not step.records


def test_another_failure_next_to_no_results_is_still_an_error() -> None:
    body = {"fail": [{"errors": [{"code": "err_threat_intel_feed_no_result_found"}, {"code": "forbidden"}]}]}
    assert isinstance(classify(CallKind.API, 200, {}, json.dumps(body).encode(), 0), ThirdPartyConfigError)


@pytest.mark.parametrize(
    "body",
    [
        {"fail": [{"code": "app_forbidden", "message": "Forbidden to perform the requested operation"}]},
        {
            "error": {
                "code": "Forbidden",
                "message": "Threats, Security Events and Data for CI is not enabled",
            }
        },
        {"meta": {"status": 403}, "data": [], "fail": [{"errors": [{"code": "err_forbidden"}]}]},
    ],
)
def test_a_permission_refusal_of_any_new_route_is_a_configuration_error(body: dict[str, Any]) -> None:
    error = classify(CallKind.API, 403, {}, json.dumps(body).encode(), 0)
    assert isinstance(error, ThirdPartyConfigError)
    assert error.status == 403


# ---- helpers -------------------------------------------------------------------------------------


def record_for(spec: StreamSpec, at: float) -> dict[str, Any]:
    assert spec.time_field is not None
    return {"id": f"{spec.name}-{at}", spec.time_field: stamp(at), "subject": f"s{at}"}


def page(spec: StreamSpec, records: list[dict[str, Any]]) -> dict[str, Any]:
    assert spec.nested_records is not None
    return {
        "meta": {"status": 200, "pagination": {"pageSize": 500}},
        "data": [{spec.nested_records: records}],
    }

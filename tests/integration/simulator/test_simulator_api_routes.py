"""The `/api` routes: DLP logs, audit events and the Hold Message List (spec 3, 6, 7, 8)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.support.simulator import SimulatorProcess, renew_token

PLUS_0000 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0000$")
Record = dict[str, Any]
Body = dict[str, Any]


@dataclass(frozen=True)
class Route:
    """What a test needs to know of one `/api` route."""

    path: str
    collection: str  # the ground-truth collection
    window: tuple[str, str]  # the filter's from/to field names
    time_field: str
    id_field: str  # the ground-truth id rule (truth.py)
    nested: bool  # DLP nests its records in data[0].dlpLogs
    counts_total: bool

    def records(self, body: Body) -> list[Record]:
        data: list[Any] = body["data"]
        if self.nested:
            assert len(data) == 1
            assert set(data[0]) == {"dlpLogs"}
            logs: list[Record] = data[0]["dlpLogs"]
            return logs
        return data


ROUTES = {
    "dlp": Route("/api/dlp/get-logs", "dlp", ("from", "to"), "eventTime", "messageId", True, True),
    "audit": Route(
        "/api/audit/get-audit-events",
        "auditEvent",
        ("startDateTime", "endDateTime"),
        "eventTime",
        "id",
        False,
        False,
    ),
    "hold": Route(
        "/api/gateway/get-hold-message-list",
        "holdMessageList",
        ("start", "end"),
        "dateReceived",
        "id",
        False,
        True,
    ),
}


def plus_0000(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S+0000")


def sim_now(sim: SimulatorProcess) -> datetime:
    return datetime.fromisoformat(sim.state()["now"].replace("Z", "+00:00"))


def window(sim: SimulatorProcess, minutes_ago: tuple[int, int] = (100, 10)) -> tuple[str, str]:
    now = sim_now(sim)
    return plus_0000(now - timedelta(minutes=minutes_ago[0])), plus_0000(
        now - timedelta(minutes=minutes_ago[1])
    )


def request(route: Route, since: str, until: str, page_size: int | None = None, **extra: Any) -> Body:
    body: Body = {"data": [{route.window[0]: since, route.window[1]: until, **extra}]}
    if page_size is not None:
        body["meta"] = {"pagination": {"pageSize": page_size}}
    return body


def post(api: httpx.Client, route: Route, body: Any) -> Body:
    response = api.post(route.path, json=body)
    assert response.status_code == 200, response.text
    answer: Body = response.json()
    assert answer["fail"] == [], answer["fail"]
    return answer


def with_token(body: Body, token: str) -> Body:
    pagination = {**body.get("meta", {}).get("pagination", {}), "pageToken": token}
    return {**body, "meta": {"pagination": pagination}}


def pages_to_the_end(api: httpx.Client, route: Route, body: Body) -> list[Body]:
    """Pages until one has no `next` or no records, as a robust client stops (spec 3.2)."""
    pages = [post(api, route, body)]
    while pages[-1]["meta"]["pagination"].get("next") and route.records(pages[-1]):
        pages.append(post(api, route, with_token(body, pages[-1]["meta"]["pagination"]["next"])))
    return pages


def all_records(route: Route, pages: list[Body]) -> list[Record]:
    return [record for page in pages for record in route.records(page)]


# The envelope and paging to the end


@pytest.mark.parametrize("name", ROUTES)
def test_an_answer_has_the_meta_data_fail_envelope(
    sim: SimulatorProcess, api: httpx.Client, name: str
) -> None:
    route = ROUTES[name]

    answer = post(api, route, request(route, *window(sim), page_size=10))

    assert set(answer) == {"meta", "data", "fail"}
    assert answer["meta"]["status"] == 200
    assert answer["meta"]["pagination"]["pageSize"] == 10
    assert answer["meta"]["pagination"]["next"]
    assert ("totalCount" in answer["meta"]["pagination"]) is route.counts_total
    records = route.records(answer)
    assert len(records) == 10
    assert all(isinstance(record[route.id_field], str) for record in records)


@pytest.mark.parametrize("page_size", [7, 50, 500])
@pytest.mark.parametrize("name", ROUTES)
def test_paging_a_window_to_the_end_gives_each_record_once_exactly_as_the_truth(
    sim: SimulatorProcess, api: httpx.Client, name: str, page_size: int
) -> None:
    route = ROUTES[name]
    since, until = window(sim)
    truth = sim.truth(route.collection, since=since, until=until)

    pages = pages_to_the_end(api, route, request(route, since, until, page_size=page_size))

    assert "next" not in pages[-1]["meta"]["pagination"]
    assert all(len(route.records(page)) == page_size for page in pages[:-1])
    ids = [record[route.id_field] for record in all_records(route, pages)]
    assert ids == truth[::-1], "newest first, each once"
    if route.counts_total:
        assert {page["meta"]["pagination"]["totalCount"] for page in pages} == {len(truth)}


@pytest.mark.parametrize("name", ROUTES)
def test_a_page_exactly_full_at_the_end_of_the_window_carries_no_next(
    sim: SimulatorProcess, api: httpx.Client, name: str
) -> None:
    route = ROUTES[name]
    since, until = window(sim, (40, 30))
    count = len(sim.truth(route.collection, since=since, until=until))

    answer = post(api, route, request(route, since, until, page_size=count))

    assert len(route.records(answer)) == count
    assert "next" not in answer["meta"]["pagination"]


@pytest.mark.parametrize("name", ROUTES)
def test_a_window_without_records_is_one_empty_page_without_next(api: httpx.Client, name: str) -> None:
    route = ROUTES[name]

    answer = post(api, route, request(route, "2001-01-01T00:00:00+0000", "2001-01-02T00:00:00+0000"))

    assert route.records(answer) == []
    assert "next" not in answer["meta"]["pagination"]
    if route.counts_total:
        assert answer["meta"]["pagination"]["totalCount"] == 0


@pytest.mark.parametrize(
    ("oldest_first", "oldest_on_top"),
    [(None, False), (False, False), (True, True)],
    ids=["absent", "false", "true"],
)
def test_dlp_lists_newest_first_unless_asked_for_oldest_first(
    sim: SimulatorProcess, api: httpx.Client, oldest_first: bool | None, oldest_on_top: bool
) -> None:
    route = ROUTES["dlp"]
    since, until = window(sim)
    extra = {} if oldest_first is None else {"oldestFirst": oldest_first}
    truth = sim.truth("dlp", since=since, until=until)

    pages = pages_to_the_end(api, route, request(route, since, until, page_size=40, **extra))

    ids = [record["messageId"] for record in all_records(route, pages)]
    assert ids == (truth if oldest_on_top else truth[::-1])


@pytest.mark.parametrize("name", ROUTES)
def test_timestamps_are_in_the_plus_0000_form_and_inside_the_window(
    sim: SimulatorProcess, api: httpx.Client, name: str
) -> None:
    route = ROUTES[name]
    since, until = window(sim)

    records = all_records(route, pages_to_the_end(api, route, request(route, since, until, page_size=500)))

    assert records
    assert all(PLUS_0000.match(record[route.time_field]) for record in records)
    assert all(since <= record[route.time_field] < until for record in records)


@pytest.mark.parametrize("name", ROUTES)
def test_a_request_carrying_only_the_page_token_is_answered_as_one_with_its_filter(
    sim: SimulatorProcess, api: httpx.Client, name: str
) -> None:
    route = ROUTES[name]
    first_request = request(route, *window(sim), page_size=20)
    token = post(api, route, first_request)["meta"]["pagination"]["next"]
    other_filter = request(route, "2001-01-01T00:00:00+0000", "2001-01-02T00:00:00+0000", page_size=20)

    with_filter = post(api, route, with_token(first_request, token))
    token_only = post(api, route, {"meta": {"pagination": {"pageToken": token}}})
    token_wins = post(api, route, with_token(other_filter, token))

    assert len(route.records(with_filter)) == 20
    assert token_only == with_filter
    assert token_wins == with_filter


# Malformed requests


def fail_of(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert body["data"] == []
    assert body["meta"]["status"] == 400
    assert len(body["fail"]) == 1
    errors = body["fail"][0]["errors"]
    assert len(errors) == 1
    assert errors[0]["code"]
    assert errors[0]["message"]
    assert errors[0]["retryable"] is False
    error: dict[str, Any] = errors[0]
    return error


WIDE = {"from": "2000-01-01T00:00:00+0000", "to": "2100-01-01T00:00:00+0000"}
MALFORMED: list[Any] = [
    # (route, body: bytes sent as is, anything else as JSON, HTTP status, the field the fail names)
    pytest.param("dlp", b"{not json", 400, "body", id="dlp: not JSON"),
    pytest.param("audit", b"", 400, "body", id="audit: no body"),
    pytest.param("hold", b"data=1", 400, "body", id="hold: a form instead of JSON"),
    pytest.param("dlp", [WIDE], 200, "body", id="dlp: a list instead of an object"),
    pytest.param("dlp", {}, 200, "data", id="dlp: no data"),
    pytest.param("dlp", {"data": [WIDE, WIDE]}, 200, "data", id="dlp: two filters"),
    pytest.param("dlp", {"data": [{"to": WIDE["to"]}]}, 200, "from", id="dlp: no from"),
    pytest.param("dlp", {"data": [{"from": WIDE["from"]}]}, 200, "to", id="dlp: no to"),
    pytest.param("dlp", {"data": [{**WIDE, "from": "yesterday"}]}, 200, "from", id="dlp: a bad date"),
    pytest.param(
        "dlp",
        {"data": [{**WIDE, "oldestFirst": "false"}]},
        200,
        "oldestFirst",
        id="dlp: oldestFirst a string",
    ),
    pytest.param(
        "audit", {"data": [{"endDateTime": WIDE["to"]}]}, 200, "startDateTime", id="audit: no startDateTime"
    ),
    pytest.param(
        "audit",
        {"data": [{"startDateTime": "2024-13-01T00:00:00+0000", "endDateTime": WIDE["to"]}]},
        200,
        "startDateTime",
        id="audit: no such month",
    ),
    pytest.param(
        "audit",
        {"data": [{"startDateTime": WIDE["from"], "endDateTime": WIDE["to"], "categories": "account_logs"}]},
        200,
        "categories",
        id="audit: categories not a list",
    ),
    pytest.param("hold", {"data": [{"start": "05/06/2024"}]}, 200, "start", id="hold: a bad start"),
    *(
        pytest.param(
            route,
            {
                "meta": {"pagination": {"pageSize": size}},
                "data": [dict(zip(ROUTES[route].window, WIDE.values(), strict=True))],
            },
            200,
            "pageSize",
            id=f"{route}: pageSize {size!r}",
        )
        for route, size in [("dlp", 0), ("audit", -5), ("hold", "ten"), ("dlp", True), ("hold", 2.5)]
    ),
    pytest.param(
        "hold",
        {"meta": {"pagination": {"pageToken": "eNqgarbage"}}},
        200,
        "pageToken",
        id="hold: a garbage token",
    ),
]


@pytest.mark.parametrize(("name", "body", "status", "field"), MALFORMED)
def test_a_malformed_request_is_answered_with_a_fail_naming_the_field(
    api: httpx.Client, name: str, body: Any, status: int, field: str
) -> None:
    route = ROUTES[name]
    if isinstance(body, bytes):
        response = api.post(route.path, content=body, headers={"Content-Type": "application/json"})
    else:
        response = api.post(route.path, json=body)

    assert response.status_code == status
    assert fail_of(response)["field"] == field


def test_a_fail_echoes_the_offending_filter_as_its_key(api: httpx.Client) -> None:
    item = {"from": "yesterday", "to": WIDE["to"], "oldestFirst": True}

    response = api.post(ROUTES["dlp"].path, json={"data": [item]})

    assert response.json()["fail"][0]["key"] == item


@pytest.mark.parametrize(("issuer", "receiver"), [("dlp", "audit"), ("audit", "hold"), ("hold", "dlp")])
def test_a_page_token_of_another_route_is_refused_naming_the_page_token(
    sim: SimulatorProcess, api: httpx.Client, issuer: str, receiver: str
) -> None:
    token = post(api, ROUTES[issuer], request(ROUTES[issuer], *window(sim), page_size=5))["meta"][
        "pagination"
    ]["next"]

    response = api.post(ROUTES[receiver].path, json={"meta": {"pagination": {"pageToken": token}}})

    assert response.status_code == 200
    assert fail_of(response)["field"] == "pageToken"


# The placeholder `next` of the last page


@pytest.mark.parametrize("name", ROUTES)
def test_with_empty_last_page_the_last_page_keeps_a_next_that_leads_to_an_empty_page(
    sim: SimulatorProcess, api: httpx.Client, name: str
) -> None:
    sim.configure(empty_last_page=True)
    route = ROUTES[name]
    since, until = window(sim, (60, 30))
    body = request(route, since, until, page_size=50)
    truth = sim.truth(route.collection, since=since, until=until)

    pages = pages_to_the_end(api, route, body)

    *data_pages, empty = pages
    assert [record[route.id_field] for record in all_records(route, data_pages)] == truth[::-1]
    placeholder = data_pages[-1]["meta"]["pagination"]["next"]
    assert route.records(empty) == []
    assert empty["meta"]["pagination"]["next"] == placeholder
    again = post(api, route, with_token(body, placeholder))
    assert route.records(again) == []
    assert again["meta"]["pagination"]["next"] == placeholder


# The Hold Message List: a current-state queue


def listed(api: httpx.Client, **filters: Any) -> list[Record]:
    route = ROUTES["hold"]
    body = {"meta": {"pagination": {"pageSize": 500}}, "data": [{"admin": True, **filters}]}
    return all_records(route, pages_to_the_end(api, route, body))


def test_a_held_message_keeps_its_id_and_content_while_listed(
    sim: SimulatorProcess, api: httpx.Client
) -> None:
    since, until = window(sim)
    first = {record["id"]: record for record in listed(api, start=since, end=until)}

    sim.advance(15 * 60)
    renew_token(api)
    second = {record["id"]: record for record in listed(api, start=since, end=until)}

    assert second
    assert set(second) <= set(first), "no new message in a past window, none renamed"
    assert all(second[key] == first[key] for key in second)


def test_a_held_message_drops_out_once_released_and_stays_in_the_truth(
    sim: SimulatorProcess, api: httpx.Client
) -> None:
    before = {record["id"] for record in listed(api)}
    assert sorted(before) == sorted(sim.truth("holdMessageList"))

    sim.advance(60 * 60)
    renew_token(api)
    an_hour_later = {record["id"] for record in listed(api)}
    sim.advance(6 * 60 * 60)
    renew_token(api)
    past_the_longest_hold = {record["id"] for record in listed(api)}

    assert before - an_hour_later, "some messages were released within the hour"
    assert before & an_hour_later, "others are still held"
    assert an_hour_later - before, "new messages were held meanwhile"
    assert not before & past_the_longest_hold
    assert before <= set(sim.truth("holdMessageList"))


def sender(record: Record) -> str:
    return json.dumps([record["from"], record["fromHeader"]]).lower()


HOLD_FILTERS: list[Any] = [
    pytest.param(
        {"searchBy": {"fieldName": "subject", "value": "invoice"}},
        lambda r: "invoice" in r["subject"].lower(),
        id="search subject",
    ),
    pytest.param(
        {"searchBy": {"fieldName": "sender", "value": "example.net"}},
        lambda r: "example.net" in sender(r),
        id="search sender",
    ),
    pytest.param(
        {"searchBy": {"fieldName": "recipient", "value": "alice"}},
        lambda r: "alice" in json.dumps(r["to"]).lower(),
        id="search recipient",
    ),
    pytest.param(
        {"searchBy": {"fieldName": "reason_code", "value": "spam"}},
        lambda r: "spam" in r["reasonCode"],
        id="search reason code",
    ),
    pytest.param(
        {"searchBy": {"fieldName": "all", "value": "quarterly"}},
        lambda r: "quarterly" in json.dumps(r).lower(),
        id="search all",
    ),
    pytest.param(
        {"filterBy": [{"fieldName": "route", "value": "inbound"}]},
        lambda r: r["route"] == "INBOUND",
        id="route",
    ),
    pytest.param({"filterBy": [{"fieldName": "route", "value": "all"}]}, lambda r: True, id="route all"),
    pytest.param(
        {"filterBy": [{"fieldName": "attachments", "value": "true"}]},
        lambda r: r["hasAttachments"],
        id="attachments",
    ),
    pytest.param(
        {
            "searchBy": {"fieldName": "subject", "value": "report"},
            "filterBy": [
                {"fieldName": "route", "value": "outbound"},
                {"fieldName": "attachments", "value": "false"},
            ],
        },
        lambda r: "report" in r["subject"].lower() and r["route"] == "OUTBOUND" and not r["hasAttachments"],
        id="search and two filters",
    ),
]


@pytest.mark.parametrize(("filters", "keeps"), HOLD_FILTERS)
def test_the_hold_list_can_be_searched_and_filtered(
    api: httpx.Client, filters: dict[str, Any], keeps: Callable[[Record], bool]
) -> None:
    everything = listed(api)

    found = listed(api, **filters)

    assert found
    assert found == [record for record in everything if keeps(record)]


AUDIT_FILTERS: list[Any] = [
    pytest.param(
        {"categories": ["account_logs"]}, lambda r: r["category"] == "account_logs", id="one category"
    ),
    pytest.param(
        {"categories": ["authentication_logs", "reporting_logs"]},
        lambda r: r["category"] in ("authentication_logs", "reporting_logs"),
        id="two categories",
    ),
    pytest.param({"query": "logged on"}, lambda r: "logged on" in json.dumps(r).lower(), id="free text"),
]


@pytest.mark.parametrize(("filters", "keeps"), AUDIT_FILTERS)
def test_audit_events_can_be_filtered_by_category_and_free_text(
    sim: SimulatorProcess, api: httpx.Client, filters: dict[str, Any], keeps: Callable[[Record], bool]
) -> None:
    route = ROUTES["audit"]
    since, until = window(sim)
    everything = all_records(route, pages_to_the_end(api, route, request(route, since, until, page_size=500)))

    found = all_records(
        route, pages_to_the_end(api, route, request(route, since, until, page_size=30, **filters))
    )

    assert found
    assert found == [record for record in everything if keeps(record)]

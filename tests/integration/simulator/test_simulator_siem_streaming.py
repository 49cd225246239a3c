"""`GET /siem/v1/events/cg`: SIEM events as JSON pages over the last 24 hours (spec 5.3, 5.5, 10)."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from tests.support.simulator import SimulatorProcess

STREAM = "/siem/v1/events/cg"
Event = dict[str, Any]
Page = dict[str, Any]


def sim_now(sim: SimulatorProcess) -> datetime:
    return datetime.fromisoformat(sim.state()["now"].replace("Z", "+00:00"))


def iso_ms(moment: datetime) -> str:
    """`2025-01-01T12:30:45.000Z`, the form the streaming endpoint takes."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def epoch_ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def window(sim: SimulatorProcess, minutes_ago: tuple[int, int] = (90, 30)) -> tuple[str, str]:
    now = sim_now(sim)
    return iso_ms(now - timedelta(minutes=minutes_ago[0])), iso_ms(now - timedelta(minutes=minutes_ago[1]))


def page(api: httpx.Client, **params: Any) -> Page:
    response = api.get(STREAM, params=params)
    assert response.status_code == 200, response.text
    body: Page = response.json()
    return body


def pages_to_the_end(api: httpx.Client, **params: Any) -> list[Page]:
    pages = [page(api, **params)]
    while not pages[-1]["isCaughtUp"]:
        pages.append(page(api, nextPage=pages[-1]["@nextPage"]))
    return pages


def without_overlap(pages: list[Page]) -> list[Event]:
    """The events of all pages, dropping a page's first event when it repeats the previous page's last."""
    events: list[Event] = []
    for current in pages:
        values = current["value"]
        if events and values and values[0] == events[-1]:
            values = values[1:]
        events.extend(values)
    return events


def event_id(event: Event) -> str:
    """The ground-truth id rule of a SIEM record in streaming naming: `aggregateId:eventType`."""
    return f"{event['aggregateId']}:{event['eventType']}"


def test_a_page_carries_next_page_next_link_page_size_and_is_caught_up(
    sim: SimulatorProcess, api: httpx.Client
) -> None:
    sim.configure(overlap_rate=0)

    first = page(api, pageSize=10)

    assert set(first) == {"value", "@nextPage", "@nextLink", "pageSize", "isCaughtUp"}
    assert first["pageSize"] == 10
    assert len(first["value"]) == 10
    assert first["isCaughtUp"] is False
    assert first["@nextLink"] == f"{sim.url}{STREAM}?{urlencode({'nextPage': first['@nextPage']})}"
    by_link = api.get(first["@nextLink"])
    by_token = api.get(STREAM, params={"nextPage": first["@nextPage"]})
    assert by_link.status_code == 200
    assert by_link.json() == by_token.json()
    assert by_link.json()["pageSize"] == 10
    assert len(by_link.json()["value"]) == 10


def test_events_use_streaming_naming_without_kafka_coordinates(api: httpx.Client) -> None:
    events = page(api, pageSize=200)["value"]

    assert len(events) == 200
    for event in events:
        assert {"accountId", "aggregateId", "processingId", "timestamp", "eventType", "subType"} <= set(event)
        assert isinstance(event["timestamp"], int)
        assert not {"type", "subtype", "_offset", "_partition"} & set(event)


@pytest.mark.parametrize(("overlap_rate", "page_size"), [(1.0, 25), (0.0, 25), (0.0, 7)])
def test_paging_a_window_to_the_end_gives_exactly_its_events_once_overlap_removed(
    sim: SimulatorProcess, api: httpx.Client, overlap_rate: float, page_size: int
) -> None:
    sim.configure(overlap_rate=overlap_rate)
    starts, ends = window(sim)

    pages = pages_to_the_end(api, dateRangeStartsAt=starts, dateRangeEndsAt=ends, pageSize=page_size)

    assert len(pages) > 3
    assert all(current["isCaughtUp"] is False for current in pages[:-1])
    assert pages[-1]["isCaughtUp"] is True
    extra = 1 if overlap_rate else 0
    assert len(pages[0]["value"]) == page_size
    for previous, current in itertools.pairwise(pages):
        assert (current["value"][0] == previous["value"][-1]) is bool(overlap_rate)
        if not current["isCaughtUp"]:
            assert len(current["value"]) == page_size + extra
    events = without_overlap(pages)
    assert [event_id(event) for event in events] == sim.truth(
        "siem", via="streaming", since=starts, until=ends
    )
    assert all(epoch_ms(starts) <= event["timestamp"] < epoch_ms(ends) for event in events)


def test_page_size_is_capped_at_500(sim: SimulatorProcess, api: httpx.Client) -> None:
    sim.configure(overlap_rate=0)

    first = page(api, pageSize=1000)

    assert first["pageSize"] == 500
    assert len(first["value"]) == 500
    assert first["isCaughtUp"] is False


@pytest.mark.parametrize("name", ["types", "type"])
@pytest.mark.parametrize("types", [["receipt"], ["process", "url protect", "journal"]])
def test_the_type_filter_is_taken_as_types_or_type(
    sim: SimulatorProcess, api: httpx.Client, name: str, types: list[str]
) -> None:
    sim.configure(overlap_rate=0)
    starts, ends = window(sim)

    pages = pages_to_the_end(api, dateRangeStartsAt=starts, dateRangeEndsAt=ends, **{name: ",".join(types)})

    events = without_overlap(pages)
    assert events
    assert {event["eventType"] for event in events} <= set(types)
    truth = sim.truth("siem", via="streaming", since=starts, until=ends)
    assert [event_id(event) for event in events] == [i for i in truth if i.split(":", 1)[1] in types]


def test_a_start_older_than_24_hours_is_a_400_with_an_error_object(
    sim: SimulatorProcess, api: httpx.Client
) -> None:
    now = sim_now(sim)

    too_old = api.get(STREAM, params={"dateRangeStartsAt": iso_ms(now - timedelta(hours=24, minutes=1))})
    in_reach = api.get(STREAM, params={"dateRangeStartsAt": iso_ms(now - timedelta(hours=23, minutes=59))})

    assert too_old.status_code == 400
    error = too_old.json()["error"]
    assert error["code"] == "InvalidDateRange"
    assert "24-hour" in error["message"]
    assert in_reach.status_code == 200


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"dateRangeStartsAt": "yesterday"}, id="words"),
        pytest.param({"dateRangeEndsAt": "2024-13-45T00:00:00.000Z"}, id="no such date"),
        pytest.param({"types": "receipt,phishing"}, id="an unknown type"),
        pytest.param({"pageSize": "0"}, id="page size 0"),
        pytest.param({"nextPage": "not-a-token"}, id="a foreign page token"),
    ],
)
def test_a_malformed_request_is_a_400_with_an_error_object(api: httpx.Client, params: dict[str, str]) -> None:
    response = api.get(STREAM, params=params)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"]
    assert error["message"]


def test_an_end_before_the_start_is_a_400(sim: SimulatorProcess, api: httpx.Client) -> None:
    starts, ends = window(sim)

    response = api.get(STREAM, params={"dateRangeStartsAt": ends, "dateRangeEndsAt": starts})

    assert response.status_code == 400
    assert "dateRangeEndsAt" in response.json()["error"]["message"]


def test_events_after_catching_up_come_through_the_same_next_page(
    sim: SimulatorProcess, api: httpx.Client
) -> None:
    sim.configure(overlap_rate=0)
    before = pages_to_the_end(api, pageSize=200)
    cursor = before[-1]["@nextPage"]
    assert page(api, nextPage=cursor)["value"] == []

    sim.advance(600)
    after = pages_to_the_end(api, nextPage=cursor)

    old, new = without_overlap(before), without_overlap(after)
    assert new
    assert min(event["timestamp"] for event in new) > max(event["timestamp"] for event in old)
    assert [event_id(event) for event in old + new] == sim.truth("siem", via="streaming")

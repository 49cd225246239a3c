"""`GET /siem/v1/batch/events/cg` and the batch files it points to (spec 5.2, 5.5, 10)."""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import httpx
import pytest

from tests.support.simulator import TLS, SimulatorProcess, connect, renew_token

LISTING = "/siem/v1/batch/events/cg"
ISO_MS_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
# A simulator whose backlog crosses midnight (2024-06-04 22:07 to 2024-06-05 02:07), with a clock
# that moves only when told. Files come out within 10 minutes of the end of their 15-minute period,
# so at start some files of the period that ended at 02:00 are out and others are not.
DATED = {
    "start": "2024-06-05T02:07:00Z",
    "backlog_hours": 4,
    "batch_lag_minutes": 0,
    "batch_jitter_minutes": 10,
    "clock_frozen": True,
}
LAST_PERIOD = int(datetime(2024, 6, 5, 1, 45, tzinfo=UTC).timestamp() * 1000) // (15 * 60_000)
MIDNIGHT_MS = int(datetime(2024, 6, 5, tzinfo=UTC).timestamp() * 1000)

Event = dict[str, Any]


@pytest.fixture(scope="session")
def dated_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatorProcess]:
    """Session-scoped: an xdist worker starts it once even when it runs this module in pieces."""
    server = SimulatorProcess(tmp_path_factory.mktemp("dated-simulator"), **DATED)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def dated(dated_process: SimulatorProcess) -> SimulatorProcess:
    dated_process.reset()
    return dated_process


@pytest.fixture
def dated_api(dated: SimulatorProcess) -> Iterator[httpx.Client]:
    client = connect(dated)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def files() -> Iterator[httpx.Client]:
    """A client without credentials, as pre-signed URLs are fetched."""
    with httpx.Client(timeout=30, verify=TLS) as client:
        yield client


def listing(api: httpx.Client, **params: Any) -> dict[str, Any]:
    response = api.get(LISTING, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def pages_to_the_end(api: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    """Every page from the first request to the first caught-up one, following `@nextPage` alone."""
    pages = [listing(api, **params)]
    while not pages[-1]["isCaughtUp"]:
        pages.append(listing(api, nextPage=pages[-1]["@nextPage"]))
    return pages


def file_of(url: str) -> str:
    """The object a URL points to, without its signature."""
    return urlparse(url).path


def distinct_urls(pages: list[dict[str, Any]]) -> list[str]:
    """The URLs of all pages, each file once: a URL repeated within a page counts once."""
    urls = []
    for page in pages:
        urls.extend(dict.fromkeys(entry["url"] for entry in page["value"]))
    return urls


def events_of(http: httpx.Client, url: str) -> list[Event]:
    response = http.get(url)
    assert response.status_code == 200, response.text
    return [json.loads(line) for line in gzip.decompress(response.content).splitlines()]


def event_id(event: Event) -> str:
    """The ground-truth id rule of a SIEM record (truth.py): `aggregateId:type`."""
    return f"{event['aggregateId']}:{event['type']}"


def ids_of(http: httpx.Client, urls: list[str]) -> list[str]:
    return [event_id(event) for url in urls for event in events_of(http, url)]


def sim_now(sim: SimulatorProcess) -> datetime:
    return datetime.fromisoformat(sim.state()["now"].replace("Z", "+00:00"))


def with_query(url: str, **changes: str) -> str:
    parts = urlparse(url)
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    return parts._replace(query=urlencode({**query, **changes})).geturl()


# The listing


def test_a_listing_offers_files_as_url_size_and_expiry(
    sim: SimulatorProcess, api: httpx.Client, files: httpx.Client
) -> None:
    now = sim_now(sim)

    page = listing(api, pageSize=5)

    assert set(page) == {"value", "@nextPage", "isCaughtUp"}
    assert page["isCaughtUp"] is False
    assert isinstance(page["@nextPage"], str)
    assert page["@nextPage"]
    assert len(page["value"]) >= 5
    for entry in page["value"]:
        assert set(entry) == {"url", "size", "expiry"}
        assert entry["url"].startswith(f"{sim.url}/")
        assert file_of(entry["url"]).endswith(".json.gz")
        assert "X-Amz-Signature" in parse_qs(urlparse(entry["url"]).query)
        assert ISO_MS_Z.match(entry["expiry"])
        expiry = datetime.fromisoformat(entry["expiry"].replace("Z", "+00:00"))
        assert expiry == now.replace(microsecond=0) + timedelta(seconds=3600)
        assert entry["size"] == len(files.get(entry["url"]).content)


@pytest.mark.parametrize(("rate", "repeats_per_page"), [(0.0, 0), (1.0, 1)])
def test_following_next_page_to_the_end_yields_every_published_file_once(
    sim: SimulatorProcess, api: httpx.Client, files: httpx.Client, rate: float, repeats_per_page: int
) -> None:
    sim.configure(duplicate_url_rate=rate)

    pages = pages_to_the_end(api, pageSize=7)

    assert len(pages) > 3
    assert all(page["isCaughtUp"] is False for page in pages[:-1])
    assert pages[-1]["isCaughtUp"] is True
    for page in pages:
        counts = Counter(entry["url"] for entry in page["value"])
        assert len(counts) <= 7
        repeated = [url for url, count in counts.items() if count > 1]
        assert len(repeated) == (repeats_per_page if len(counts) >= 2 else 0)
        assert all(counts[url] == 2 for url in repeated)
    objects = [file_of(url) for url in distinct_urls(pages)]
    assert len(objects) == len(set(objects))
    ids = ids_of(files, distinct_urls(pages))
    assert len(ids) == len(set(ids))
    assert sorted(ids) == sorted(sim.truth("siem"))


def test_a_file_is_listed_only_once_its_period_ended_and_the_lag_passed(
    sim: SimulatorProcess, api: httpx.Client, files: httpx.Client
) -> None:
    lag_ms = int(sim.state()["options"]["batch_lag_minutes"] * 60_000)
    now_ms = int(sim_now(sim).timestamp() * 1000)

    urls = distinct_urls(pages_to_the_end(api))

    newest = max(event["timestamp"] for url in urls for event in events_of(files, url))
    assert newest < now_ms - lag_ms


def test_a_caught_up_page_is_empty_and_still_carries_a_next_page(api: httpx.Client) -> None:
    last = pages_to_the_end(api)[-1]

    again = listing(api, nextPage=last["@nextPage"])

    assert again["value"] == []
    assert again["isCaughtUp"] is True
    assert again["@nextPage"]


def test_files_published_after_catching_up_come_through_the_same_next_page(
    sim: SimulatorProcess, api: httpx.Client, files: httpx.Client
) -> None:
    before = pages_to_the_end(api)
    cursor = before[-1]["@nextPage"]
    assert listing(api, nextPage=cursor)["value"] == []
    ids_before = ids_of(files, distinct_urls(before))

    sim.advance(3600)
    renew_token(api)  # the first token expired meanwhile
    after = pages_to_the_end(api, nextPage=cursor, pageSize=10)

    old_files = {file_of(url) for url in distinct_urls(before)}
    new_files = [file_of(url) for url in distinct_urls(after)]
    assert len(new_files) >= 4
    assert not old_files & set(new_files)
    ids = ids_before + ids_of(files, distinct_urls(after))
    assert len(ids) == len(set(ids))
    assert sorted(ids) == sorted(sim.truth("siem"))


def period_of(url: str) -> int:
    """The period a file covers, as the simulator names its files (`<period>-<type>-<part>`)."""
    return int(Path(urlparse(url).path).name.split("-")[0])


def test_a_file_published_late_in_an_already_listed_period_comes_after_catching_up(
    dated: SimulatorProcess, dated_api: httpx.Client, files: httpx.Client
) -> None:
    before = pages_to_the_end(dated_api)
    assert LAST_PERIOD in {period_of(url) for url in distinct_urls(before)}

    dated.advance(7 * 60)  # 02:14: every file of 01:45-02:00 is out, none of the next period
    after = pages_to_the_end(dated_api, nextPage=before[-1]["@nextPage"])

    late = distinct_urls(after)
    assert late
    assert {period_of(url) for url in late} == {LAST_PERIOD}
    ids = ids_of(files, distinct_urls(before) + late)
    assert sorted(ids) == sorted(dated.truth("siem"))


def test_page_size_counts_files_and_is_capped_at_100(
    dated: SimulatorProcess, dated_api: httpx.Client
) -> None:
    dated.configure(duplicate_url_rate=0)

    capped = listing(dated_api, pageSize=500)
    single = listing(dated_api, pageSize=1)
    default = listing(dated_api)

    assert len(capped["value"]) == 100
    assert capped["isCaughtUp"] is False
    assert len(single["value"]) == 1
    assert len(default["value"]) == 100


@pytest.mark.parametrize("size", ["0", "-3", "ten"])
def test_a_page_size_that_is_not_a_positive_integer_is_a_400(api: httpx.Client, size: str) -> None:
    response = api.get(LISTING, params={"pageSize": size})

    assert response.status_code == 400
    assert "pageSize" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "types",
    [
        ["url protect"],
        ["receipt", "delivery"],
        ["internal email protect", "journal", "av", "impersonation protect"],
    ],
)
def test_the_type_filter_takes_one_type_or_a_comma_list(
    sim: SimulatorProcess, api: httpx.Client, files: httpx.Client, types: list[str]
) -> None:
    pages = pages_to_the_end(api, type=",".join(types))

    events = [event for url in distinct_urls(pages) for event in events_of(files, url)]
    assert {event["type"] for event in events} <= set(types)
    expected = [i for i in sim.truth("siem") if i.split(":", 1)[1] in types]
    assert expected
    assert sorted(event_id(event) for event in events) == sorted(expected)


@pytest.mark.parametrize("types", ["receipts", "receipt,phishing", "RECEIPT"])
def test_an_unknown_type_is_a_400_with_an_error_object(api: httpx.Client, types: str) -> None:
    response = api.get(LISTING, params={"type": types})

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"]
    assert "Unknown type" in error["message"]


@pytest.mark.parametrize(
    ("starts", "ends", "day"),
    [
        pytest.param("2024-06-04", "2024-06-04", "before", id="the first day only"),
        pytest.param("2024-06-05", None, "after", id="from the second day on"),
        pytest.param("2024-06-05", "2024-06-05", "after", id="the second day only"),
        pytest.param("2024-06-04", "2024-06-05", "both", id="both days"),
    ],
)
def test_a_date_range_selects_the_files_of_those_days(
    dated: SimulatorProcess,
    dated_api: httpx.Client,
    files: httpx.Client,
    starts: str,
    ends: str | None,
    day: str,
) -> None:
    params = {"dateRangeStartsAt": starts, **({"dateRangeEndsAt": ends} if ends else {})}

    pages = pages_to_the_end(dated_api, **params)

    events = [event for url in distinct_urls(pages) for event in events_of(files, url)]
    truth = dated.truth("siem")
    expected = {
        "before": dated.truth("siem", until=MIDNIGHT_MS),
        "after": dated.truth("siem", since=MIDNIGHT_MS),
        "both": truth,
    }[day]
    assert 0 < len(expected) < len(truth) or day == "both"
    assert sorted(event_id(event) for event in events) == sorted(expected)


def test_data_can_be_asked_for_back_to_7_days_and_no_further(
    sim: SimulatorProcess, api: httpx.Client
) -> None:
    today = sim_now(sim).date()

    oldest = api.get(LISTING, params={"dateRangeStartsAt": str(today - timedelta(days=7))})
    too_old = api.get(LISTING, params={"dateRangeStartsAt": str(today - timedelta(days=8))})

    assert oldest.status_code == 200
    assert too_old.status_code == 400
    assert "7 days" in too_old.json()["error"]["message"]


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"dateRangeStartsAt": "2024/06/05"}, id="slashes"),
        pytest.param({"dateRangeStartsAt": "2024-06-05T00:00:00Z"}, id="a time instead of a date"),
        pytest.param({"dateRangeEndsAt": "tomorrow"}, id="words"),
        pytest.param(
            {"dateRangeStartsAt": "2024-06-05", "dateRangeEndsAt": "2024-06-04"}, id="end before start"
        ),
    ],
)
def test_a_malformed_date_range_is_a_400(dated_api: httpx.Client, params: dict[str, str]) -> None:
    response = dated_api.get(LISTING, params=params)

    assert response.status_code == 400
    assert set(response.json()) == {"error"}
    assert "dateRange" in response.json()["error"]["message"]


def test_a_next_page_not_made_by_this_route_is_a_400(api: httpx.Client) -> None:
    streaming = api.get("/siem/v1/events/cg").json()["@nextPage"]

    for token in ("not-a-token", streaming):
        response = api.get(LISTING, params={"nextPage": token})
        assert response.status_code == 400
        assert "nextPage" in response.json()["error"]["message"]


# The files


def test_a_file_is_gzip_ndjson_of_one_type_in_batch_naming(api: httpx.Client, files: httpx.Client) -> None:
    urls = distinct_urls(pages_to_the_end(api))

    seen_types = set()
    for url in urls:
        events = events_of(files, url)
        assert events
        assert len({event["type"] for event in events}) == 1
        for event in events:
            seen_types.add(event["type"])
            assert {"accountId", "aggregateId", "processingId", "timestamp", "type", "subtype"} <= set(event)
            assert isinstance(event["_offset"], int)
            assert isinstance(event["_partition"], int)
            assert isinstance(event["timestamp"], int)
            assert "eventType" not in event
            assert "subType" not in event
    assert {"receipt", "process", "delivery"} <= seen_types


def test_a_file_downloads_without_any_authorization(api: httpx.Client, files: httpx.Client) -> None:
    url = listing(api)["value"][0]["url"]

    response = files.get(url)

    assert response.status_code == 200
    assert gzip.decompress(response.content)


def test_a_file_url_works_until_its_expiry_and_is_a_403_after(
    sim: SimulatorProcess, api: httpx.Client, files: httpx.Client
) -> None:
    sim.configure(batch_url_ttl_seconds=60)
    offer = listing(api)["value"][0]
    url, expiry = offer["url"], datetime.fromisoformat(offer["expiry"].replace("Z", "+00:00"))

    sim.advance((expiry - sim_now(sim)).total_seconds() - 0.5)
    before_expiry = files.get(url)
    sim.advance(1)
    expired = files.get(url)
    fresh = listing(api)["value"][0]["url"]

    assert before_expiry.status_code == 200
    assert expired.status_code == 403
    assert "<Code>AccessDenied</Code>" in expired.text
    assert file_of(fresh) == file_of(url)
    assert files.get(fresh).status_code == 200


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"X-Amz-Signature": "0" * 64}, id="another signature"),
        pytest.param({"X-Amz-Expires": "999999"}, id="a longer lifetime"),
        pytest.param({"X-Amz-Date": "20300101T000000Z"}, id="a later signing time"),
    ],
)
def test_a_url_whose_signed_query_was_altered_is_a_403(api: httpx.Client, change: dict[str, str]) -> None:
    url = listing(api)["value"][0]["url"]

    response = api.get(with_query(url, **change))

    assert response.status_code == 403
    assert "<Code>SignatureDoesNotMatch</Code>" in response.text


def test_an_unknown_file_is_a_404(sim: SimulatorProcess, api: httpx.Client) -> None:
    url = listing(api)["value"][0]["url"]
    path = Path(urlparse(url).path)
    period = int(path.name.split("-")[0])
    unknown = {
        "a name that was never issued": path.with_name("no-such-file.json.gz"),
        "a type index out of range": path.with_name(f"{period}-99-0.json.gz"),
        "a period not published yet": path.with_name(f"{period + 1000}-0-0.json.gz"),
        "another account": path.parent.with_name("C0THER") / path.name,
    }

    for case, other in unknown.items():
        response = api.get(urlparse(url)._replace(path=str(other)).geturl())
        assert response.status_code == 404, case
        assert "<Code>NoSuchKey</Code>" in response.text, case


def test_a_file_past_the_7_day_retention_is_a_404(sim: SimulatorProcess, api: httpx.Client) -> None:
    sim.configure(batch_url_ttl_seconds=30 * 86_400)
    url = listing(api)["value"][0]["url"]

    sim.advance(8 * 86_400)

    assert api.get(url).status_code == 404

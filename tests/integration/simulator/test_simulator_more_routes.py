"""The routes of `spec/mimecast-api-more.md`: TTP, archive search, release logs, Cloud Integrated
batch listings and the threat-intel feed, answered as the spec file says peers have seen them."""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.support.fetching import sim_time, simulator_id
from tests.support.simulator import SimulatorProcess

LOGS = {  # route -> (collection, nested key, window fields, time field)
    "/api/ttp/url/get-logs": ("ttpUrl", "clickLogs", ("from", "to"), "date"),
    "/api/ttp/attachment/get-logs": ("ttpAttachment", "attachmentLogs", ("from", "to"), "date"),
    "/api/ttp/impersonation/get-logs": ("ttpImpersonation", "impersonationLogs", ("from", "to"), "eventTime"),
    "/api/archive/get-archive-search-logs": ("archiveSearch", "logs", ("start", "end"), "createTime"),
    "/api/archive/get-search-logs": ("archiveSearch", "logs", ("start", "end"), "createTime"),
    "/api/gateway/get-held-release-logs": ("holdReleaseLog", "heldReleaseLogs", ("start", "end"), "released"),
}
FEED = "/api/ttp/threat-intel/get-feed"
NEXT = "x-mc-threat-feed-next-token"


def now_of(sim: SimulatorProcess) -> datetime:
    return sim_time(sim.state()["now"])


def plus0000(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S+0000")


def recent(sim: SimulatorProcess) -> dict[str, str]:
    """The last six hours: enough records whatever the hour (the default window, today, holds only
    minutes just after midnight)."""
    now = now_of(sim)
    return {"from": plus0000(now - timedelta(hours=6)), "to": plus0000(now)}


def read_all(api: httpx.Client, path: str, data: dict[str, Any], size: int = 100) -> list[dict[str, Any]]:
    """Every page of a window, following `next`, and the records of each."""
    _, nested, _, _ = LOGS[path]
    found: list[dict[str, Any]] = []
    pagination: dict[str, Any] = {"pageSize": size}
    for _ in range(500):
        answer = api.post(path, json={"meta": {"pagination": pagination}, "data": [data]})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["fail"] == []
        assert set(body["data"][0]) - {"resultCount"} == {nested}
        found.extend(body["data"][0][nested])
        following = body["meta"]["pagination"].get("next")
        if not following:
            return found
        pagination = {"pageSize": size, "pageToken": following}
    raise AssertionError("paging did not end")


@pytest.mark.parametrize("path", list(LOGS))
def test_each_log_route_pages_a_window_to_exactly_its_ground_truth(
    sim: SimulatorProcess, api: httpx.Client, path: str
) -> None:
    collection, _, (start, end), time_field = LOGS[path]
    now = now_of(sim)
    window = {start: plus0000(now - timedelta(hours=1)), end: plus0000(now - timedelta(minutes=10))}
    records = read_all(api, path, window, size=37)
    ids = Counter(simulator_id(collection, record) for record in records)
    until = now.replace(microsecond=0) - timedelta(minutes=10, milliseconds=-1)  # the end is included
    truth = Counter(sim.truth(collection, since=window[start], until=until.isoformat()))
    assert ids == truth
    assert len(records) > 100
    assert all(record[time_field].endswith("+0000") for record in records)


def test_ttp_url_logs_look_like_the_recorded_ones(sim: SimulatorProcess, api: httpx.Client) -> None:
    records = read_all(api, "/api/ttp/url/get-logs", recent(sim), size=500)
    assert records
    by_message = Counter(record["messageId"] for record in records)
    assert max(by_message.values()) > 1  # several clicks of one message
    assert {record["creationMethod"] for record in records} == {"User Click", "Entry Scan"}
    assert "Internal IP" in {record["sendingIp"] for record in records}
    tagged = [record["tagMap"] for record in records if "tagMap" in record]
    assert tagged
    assert any(":" in key for tags in tagged for inner in tags.values() for key in inner)
    assert all(
        isinstance(value, list) for tags in tagged for inner in tags.values() for value in inner.values()
    )
    assert {record["action"] for record in records} <= {"allow", "warn", "block"}


def test_two_attachments_of_one_message_share_message_id_and_date_but_not_their_file(
    sim: SimulatorProcess, api: httpx.Client
) -> None:
    records = read_all(api, "/api/ttp/attachment/get-logs", recent(sim), size=500)
    pairs = Counter((record["messageId"], record["date"]) for record in records)
    twins = [key for key, count in pairs.items() if count > 1]
    assert twins
    files = {record["fileHash"] for record in records if (record["messageId"], record["date"]) == twins[0]}
    assert len(files) == 2
    assert "<>" in {record["senderAddress"] for record in records}
    assert all(record["details"][50:52] == "\r\n" for record in records)


def test_impersonation_logs_carry_an_mtoken_id_and_a_result_count(
    sim: SimulatorProcess, api: httpx.Client
) -> None:
    answer = api.post("/api/ttp/impersonation/get-logs", json={"data": [{"taggedMalicious": True}]}).json()
    logs = answer["data"][0]["impersonationLogs"]
    assert logs
    assert answer["data"][0]["resultCount"] == answer["meta"]["pagination"]["totalCount"]
    assert all(log["id"].startswith("MTOKEN:") and log["taggedMalicious"] is True for log in logs)
    assert all(isinstance(log["hits"], int) for log in logs)


def test_release_logs_are_the_api_2_shape_and_a_message_may_be_released_twice(
    sim: SimulatorProcess, api: httpx.Client
) -> None:
    now = now_of(sim)
    window = {"start": plus0000(now - timedelta(hours=2)), "end": plus0000(now)}
    records = read_all(api, "/api/gateway/get-held-release-logs", window, size=500)
    assert {record["status"] for record in records} == {"released", "rejected"}
    assert all(isinstance(record["operator"], dict) for record in records)
    assert all("verdict" in record["spamProcessingDetail"] for record in records)
    assert max(Counter(record["id"] for record in records).values()) == 2
    rejected = {"filterBy": [{"fieldName": "status", "value": "rejected"}]}
    assert {
        r["status"] for r in read_all(api, "/api/gateway/get-held-release-logs", {**window, **rejected})
    } == {"rejected"}


@pytest.mark.parametrize(
    ("field", "value"), [("scanResult", "bad"), ("route", "sideways"), ("from", "yesterday")]
)
def test_a_bad_filter_value_is_a_fail_naming_the_field(api: httpx.Client, field: str, value: str) -> None:
    answer = api.post("/api/ttp/url/get-logs", json={"data": [{field: value}]})
    assert answer.status_code == 200
    (error,) = answer.json()["fail"][0]["errors"]
    assert error["field"] == field


def test_an_empty_window_is_nested_by_default_or_flat_when_asked(
    sim: SimulatorProcess, api: httpx.Client
) -> None:
    future = now_of(sim) + timedelta(hours=1)
    window = {"data": [{"from": plus0000(future), "to": plus0000(future + timedelta(hours=1))}]}
    assert api.post("/api/ttp/url/get-logs", json=window).json()["data"] == [{"clickLogs": []}]
    sim.configure(empty_window_flat=True)
    assert api.post("/api/ttp/url/get-logs", json=window).json()["data"] == []


def test_oldest_first_on_ttp_routes_and_the_listing_order_switch_elsewhere(
    sim: SimulatorProcess, api: httpx.Client
) -> None:
    def times(path: str, data: dict[str, Any]) -> list[str]:
        _, nested, _, field = LOGS[path]
        body = api.post(path, json={"meta": {"pagination": {"pageSize": 50}}, "data": [data]}).json()
        return [record[field] for record in body["data"][0][nested]]

    url = times("/api/ttp/url/get-logs", {"oldestFirst": True})
    assert url == sorted(url)
    assert times("/api/ttp/url/get-logs", {}) == sorted(times("/api/ttp/url/get-logs", {}), reverse=True)
    archive = times("/api/archive/get-archive-search-logs", {})
    assert archive == sorted(archive, reverse=True)
    sim.configure(listing_order="oldest_first")
    archive = times("/api/archive/get-archive-search-logs", {})
    assert archive == sorted(archive)
    audit_body = {
        "startDateTime": plus0000(now_of(sim) - timedelta(hours=1)),
        "endDateTime": plus0000(now_of(sim)),
    }
    events = api.post("/api/audit/get-audit-events", json={"data": [audit_body]}).json()["data"]
    assert [e["eventTime"] for e in events] == sorted(e["eventTime"] for e in events)
    held = api.post("/api/gateway/get-hold-message-list", json={}).json()["data"]
    assert [h["dateReceived"] for h in held] == sorted(h["dateReceived"] for h in held)


def test_late_arrivals_appear_minutes_after_their_time_and_count_in_the_truth_from_then(
    sim: SimulatorProcess, api: httpx.Client
) -> None:
    sim.configure(late_share=0.5, late_minutes=8)
    # whole seconds, as the route reads them: a late record in the last second's fraction would be in
    # the truth's window and not in the route's
    now = now_of(sim).replace(microsecond=0)
    since, until = now - timedelta(minutes=3), now
    window = {"from": plus0000(since), "to": plus0000(until), "oldestFirst": True}
    seen_now = api.post("/api/dlp/get-logs", json={"data": [window]}).json()["data"][0]["dlpLogs"]
    truth_now = sim.truth("dlp", since=since.isoformat(), until=until.isoformat())
    assert sorted(record["messageId"] for record in seen_now) == sorted(truth_now)
    sim.advance(600)
    seen_later = api.post("/api/dlp/get-logs", json={"data": [window]}).json()["data"][0]["dlpLogs"]
    truth_later = sim.truth("dlp", since=since.isoformat(), until=until.isoformat())
    assert sorted(record["messageId"] for record in seen_later) == sorted(truth_later)
    assert len(truth_later) > len(truth_now) > 0  # some appeared late, and the truth counts them now


def test_a_client_without_a_collection_gets_403_on_its_route_only(sim: SimulatorProcess) -> None:
    sim.control.post(
        "/_sim/clients",
        json={"client_id": "no-ttp", "client_secret": "s", "collections": ["dlp", "threatIntelGrid"]},
    ).raise_for_status()
    with httpx.Client(base_url=sim.url) as client:
        client.headers["Authorization"] = f"Bearer {sim.token('no-ttp', 's')}"
        assert client.post("/api/ttp/url/get-logs", json={}).status_code == 403
        assert client.get("/siem/v1/batch/events/ci").status_code == 403
        customer = {"data": [{"feedType": "malware_customer", "fileType": "stix"}]}
        assert client.post(FEED, json=customer).status_code == 403
        grid = {"data": [{"feedType": "malware_grid", "fileType": "stix"}]}
        assert client.post(FEED, json=grid).status_code == 200
        assert (
            client.post(
                "/api/dlp/get-logs",
                json={"data": [{"from": "2024-01-01T00:00:00Z", "to": "2024-01-02T00:00:00Z"}]},
            ).status_code
            == 200
        )


@pytest.mark.parametrize("route", ["url", "attachment", "impersonation", "archive", "release", "feed", "ci"])
def test_scripted_faults_and_quotas_apply_to_each_new_route(
    sim: SimulatorProcess, api: httpx.Client, route: str
) -> None:
    call = {
        "url": lambda: api.post("/api/ttp/url/get-logs", json={}),
        "attachment": lambda: api.post("/api/ttp/attachment/get-logs", json={}),
        "impersonation": lambda: api.post("/api/ttp/impersonation/get-logs", json={}),
        "archive": lambda: api.post("/api/archive/get-archive-search-logs", json={}),
        "release": lambda: api.post("/api/gateway/get-held-release-logs", json={}),
        "feed": lambda: api.post(FEED, json={"data": [{"feedType": "malware_grid", "fileType": "stix"}]}),
        "ci": lambda: api.get("/siem/v1/batch/events/ci"),
    }[route]
    sim.fault(route, status=503)
    assert call().status_code == 503
    quota = "quota_batch" if route == "ci" else "quota_api"
    sim.configure(**{quota: [1, 3600]})
    assert call().status_code == 200
    limited = call()
    assert limited.status_code == 429
    assert int(limited.headers["X-RateLimit-Reset"]) > 0


def feed(api: httpx.Client, **item: Any) -> httpx.Response:
    return api.post(FEED, json={"data": [{"fileType": "stix", "compress": False, **item}]})


def test_the_feed_is_a_stix_bundle_paged_by_a_header_until_its_ground_truth(
    sim: SimulatorProcess, api: httpx.Client
) -> None:
    sim.configure(feed_page_objects=60)
    window = {"feedType": "malware_customer", "start": "2000-01-01T00:00:00Z", "end": sim.state()["now"]}
    objects: list[dict[str, Any]] = []
    answer = feed(api, **window)
    pages = 1
    while True:
        assert answer.status_code == 200
        body = answer.json()
        assert set(body) == {"type", "id", "spec_version", "objects"}
        assert (body["type"], body["spec_version"]) == ("bundle", "2.0")
        assert [o["type"] for o in body["objects"][:3]] == ["malware", "indicator", "relationship"]
        assert "x-ratelimit-remaining" not in answer.headers
        objects.extend(body["objects"])
        token = answer.headers.get(NEXT)
        if token is None:
            break
        answer = feed(api, token=token)  # the token alone, as Elastic sends it
        pages += 1
    assert pages > 3
    assert Counter(o["id"] for o in objects) == Counter(sim.truth("threatIntelCustomer"))
    hashes = Counter(o["pattern"] for o in objects if o["type"] == "indicator")
    assert max(hashes.values()) > 1  # one file seen again, under a new indicator id
    assert all(o["created"].endswith("Z") and len(o["created"]) == 24 for o in objects)


def test_the_feeds_last_page_may_repeat_its_token_and_no_results_is_a_200_with_fail(
    sim: SimulatorProcess, api: httpx.Client
) -> None:
    sim.configure(feed_page_objects=60, feed_last_token="repeat")
    answer = feed(api, feedType="malware_grid")
    tokens = []
    while (token := answer.headers.get(NEXT)) is not None and token not in tokens:
        tokens.append(token)
        answer = feed(api, token=token)
    assert answer.headers[NEXT] == tokens[-1]
    future = now_of(sim) + timedelta(days=1)
    empty = feed(
        api, feedType="malware_grid", start=future.isoformat(), end=(future + timedelta(hours=1)).isoformat()
    )
    assert empty.status_code == 200
    (error,) = empty.json()["fail"][0]["errors"]
    assert error["code"] == "err_threat_intel_feed_no_result_found"
    assert error["message"] == "No results found for threat intel feed."


def test_the_feeds_default_csv_form_is_pipe_separated_and_zipped_when_asked(api: httpx.Client) -> None:
    plain = api.post(FEED, json={"data": [{"feedType": "malware_grid"}]})
    assert plain.headers["content-type"] == "application/octet-stream"
    lines = plain.text.splitlines()
    assert lines[0] == "Timestamp|SenderAddress|FileName|FileSize|FileMimeType|SHA256|MD5|SendingIP"
    assert all(len(line.split("|")) == 8 for line in lines[1:])
    zipped = api.post(FEED, json={"data": [{"feedType": "malware_grid", "compress": True}]})
    with zipfile.ZipFile(io.BytesIO(zipped.content)) as archive:
        (name,) = archive.namelist()
        assert archive.read(name).decode().splitlines()[0] == lines[0]


def test_cloud_integrated_lists_gzip_ndjson_files_by_type_up_to_its_ground_truth(
    sim: SimulatorProcess, api: httpx.Client
) -> None:
    records: list[dict[str, Any]] = []
    params: dict[str, str] = {"type": "entities,mailflow,urlclick"}
    read: set[str] = set()  # a listing may repeat a URL (as SIEM listings do): each file is read once
    for _ in range(100):
        listing = api.get("/siem/v1/batch/events/ci", params=params).json()
        for entry in listing["value"]:
            if entry["url"].split("?")[0] in read:
                continue
            read.add(entry["url"].split("?")[0])
            with httpx.Client() as files:
                content = files.get(entry["url"]).content
            records.extend(json.loads(line) for line in gzip.decompress(content).splitlines())
        if listing["isCaughtUp"]:
            break
        params = {"nextPage": listing["@nextPage"]}
    assert Counter(simulator_id("cloudIntegrated", r) for r in records) == Counter(
        sim.truth("cloudIntegrated")
    )
    assert {r["type"] for r in records} == {"entities", "mailflow", "urlclick"}
    assert all(
        isinstance(r["timestamp"], int) and {"_offset", "_partition", "processingId"} <= set(r)
        for r in records
    )
    one = api.get("/siem/v1/batch/events/ci", params={"type": "mailflow"}).json()
    assert one["value"]
    bad = api.get("/siem/v1/batch/events/ci", params={"type": "receipt"})
    assert bad.status_code == 400


def _peer_follow(style: str, first: dict[str, Any], token: str) -> dict[str, Any]:
    """The next-page request as each peer builds it (spec-more 10.5: the token is authoritative)."""
    if style == "elastic-v1":  # deletes `data` on later pages
        return {
            "meta": {"pagination": {"pageSize": first["meta"]["pagination"]["pageSize"], "pageToken": token}}
        }
    if style == "xsoar":  # snake-case page size next to the token
        return {**first, "meta": {"pagination": {"page_size": 100, "pageToken": token}}}
    if style == "gravwell":  # unrelated window fields with the token
        body = {"startDateTime": "2015-01-01T00:00:00-0700", "endDateTime": "2015-01-02T00:00:00-0700"}
        return {"meta": {"pagination": {"pageSize": 100, "pageToken": token}}, "data": [body]}
    return {**first, "meta": {"pagination": {**first["meta"]["pagination"], "pageToken": token}}}


PEERS = {  # the first request of each peer for the TTP URL logs (spec-more 1.2, 2.1, 10)
    "azure": ("azure", {"oldestFirst": True}, "%Y-%m-%dT%H:%M:%SZ"),
    "elastic-v2": ("elastic-v2", {}, "%Y-%m-%dT%H:%M:%SZ"),
    "elastic-v1": ("elastic-v1", {"scanResult": "all"}, "%Y-%m-%dT%H:%M:%S+0000"),
    "xsoar": ("xsoar", {"scanResult": "all", "route": "all"}, "%Y-%m-%dT%H:%M:%S+0000"),
    "netskope": ("netskope", {"oldestFirst": True, "scanResult": "all"}, "%Y-%m-%dT%H:%M:%S+00:00"),
    "fractional": ("fractional", {"oldestFirst": True}, "%Y-%m-%dT%H:%M:%S.123Z"),
    "gravwell": ("gravwell", {}, "%Y-%m-%dT%H:%M:%S-0000"),
}


@pytest.mark.parametrize("peer", list(PEERS))
@pytest.mark.parametrize(
    "path", ["/api/ttp/url/get-logs", "/api/ttp/attachment/get-logs", "/api/ttp/impersonation/get-logs"]
)
def test_a_peers_recorded_requests_for_the_ttp_routes_are_answered_as_the_spec_says(
    sim: SimulatorProcess, api: httpx.Client, path: str, peer: str
) -> None:
    style, extra, form = PEERS[peer]
    collection, nested, _, time_field = LOGS[path]
    if path != "/api/ttp/url/get-logs":
        extra = {key: value for key, value in extra.items() if key != "scanResult"}
    now = now_of(sim).replace(microsecond=0)
    since, until = now - timedelta(minutes=50), now - timedelta(minutes=5)
    window = {"from": since.strftime(form), "to": until.strftime(form), **extra}
    first = {"meta": {"pagination": {"pageSize": 50}}, "data": [window]}
    records: list[dict[str, Any]] = []
    body = first
    for _ in range(100):
        answer = api.post(path, json=body)
        assert answer.status_code == 200
        page = answer.json()
        assert page["fail"] == []
        assert page["meta"]["pagination"]["totalCount"] >= len(page["data"][0][nested])
        records.extend(page["data"][0][nested])
        token = page["meta"]["pagination"].get("next")
        if not token:
            break
        body = _peer_follow(style, first, token)
    times = [record[time_field] for record in records]
    assert times == sorted(times, reverse="oldestFirst" not in extra)
    fraction = timedelta(milliseconds=123) if peer == "fractional" else timedelta(0)
    expected = sim.truth(
        collection,
        since=(since + fraction).isoformat(),
        until=(until + fraction + timedelta(milliseconds=1)).isoformat(),
    )
    assert Counter(simulator_id(collection, record) for record in records) == Counter(expected)

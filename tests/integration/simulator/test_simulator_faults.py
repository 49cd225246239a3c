"""The `/_sim/` control plane: scripted faults, corrupted files, latency, the clock, and its own guard."""

from __future__ import annotations

import gzip
import json
import ssl
import time
import zlib
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.support.simulator import CLIENT_ID, CLIENT_SECRET, CONTROL_TOKEN, SimulatorProcess

WIDE = ("2000-01-01T00:00:00+0000", "2100-01-01T00:00:00+0000")
TOKEN_FORM = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "grant_type": "client_credentials"}
# route (as faults name it) -> (method, path, JSON body, the error form of the route)
API: dict[str, tuple[str, str, Any, str]] = {
    "batch": ("GET", "/siem/v1/batch/events/cg", None, "error"),
    "streaming": ("GET", "/siem/v1/events/cg", None, "error"),
    "dlp": ("POST", "/api/dlp/get-logs", {"data": [dict(zip(("from", "to"), WIDE, strict=True))]}, "fail"),
    "audit": (
        "POST",
        "/api/audit/get-audit-events",
        {"data": [dict(zip(("startDateTime", "endDateTime"), WIDE, strict=True))]},
        "fail",
    ),
    "hold": ("POST", "/api/gateway/get-hold-message-list", {"data": [{}]}, "fail"),
}
EVERY_ROUTE = ["token", *API, "files"]

# httpx builds a TLS context for every client (~0.1 s each); these clients speak plain HTTP on
# loopback, so they share one context, built once.
TLS = ssl.create_default_context()


@pytest.fixture
def sim(simulator: SimulatorProcess) -> SimulatorProcess:
    """The shared simulator, reset, its clock frozen so that only the tests move it."""
    simulator.control.post("/_sim/clock/freeze").raise_for_status()
    return simulator


@pytest.fixture
def api(sim: SimulatorProcess) -> Iterator[httpx.Client]:
    with closing(httpx.Client(base_url=sim.url, timeout=30, verify=TLS)) as client:
        client.headers["Authorization"] = (
            f"Bearer {client.post('/oauth/token', data=TOKEN_FORM).json()['access_token']}"
        )
        yield client


@pytest.fixture
def file_url(api: httpx.Client) -> str:
    """The URL of a published batch file."""
    url: str = api.get("/siem/v1/batch/events/cg").json()["value"][0]["url"]
    return url


def call(api: httpx.Client, route: str, file_url: str) -> httpx.Response:
    """One call of `route` as a client makes it."""
    if route == "token":
        return api.post("/oauth/token", data=TOKEN_FORM)
    if route == "files":
        return api.get(file_url, headers={"Authorization": ""})
    method, path, body, _ = API[route]
    return api.request(method, path, json=body)


def fault(sim: SimulatorProcess, route: str, **options: Any) -> httpx.Response:
    return sim.control.post("/_sim/faults", json={"route": route, **options})


# Scripted faults


@pytest.mark.parametrize("route", EVERY_ROUTE)
def test_a_status_fault_answers_the_next_count_calls_then_service_resumes(
    sim: SimulatorProcess, api: httpx.Client, file_url: str, route: str
) -> None:
    assert fault(sim, route, kind="status", status=503, count=2).status_code == 201

    faulted = [call(api, route, file_url) for _ in range(2)]
    served = call(api, route, file_url)

    assert [response.status_code for response in faulted] == [503, 503]
    body = faulted[0].json()
    if API.get(route, ("", "", None, "fail"))[3] == "error":
        assert body["error"]["code"] == "internal-error"
    else:
        assert body["fail"][0]["code"] == "internal-error"
    assert served.status_code == 200


@pytest.mark.parametrize("route", EVERY_ROUTE)
def test_a_status_fault_can_carry_its_own_body_and_headers(
    sim: SimulatorProcess, api: httpx.Client, file_url: str, route: str
) -> None:
    body = {"fail": [{"code": "unauthorized", "message": "Unauthorized Request"}]}
    fault(sim, route, status=401, body=body, headers={"WWW-Authenticate": "Bearer"}).raise_for_status()

    response = call(api, route, file_url)

    assert response.status_code == 401
    assert response.json() == body
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("route", ["token", "dlp"])
def test_a_fault_for_one_client_id_leaves_the_others_alone(
    sim: SimulatorProcess, api: httpx.Client, file_url: str, route: str
) -> None:
    fault(sim, route, status=503, client_id="someone-else").raise_for_status()
    assert call(api, route, file_url).status_code == 200  # not this client's
    fault(sim, route, status=502, client_id=CLIENT_ID).raise_for_status()
    assert call(api, route, file_url).status_code == 502  # this client's, past the other's
    assert sim.state()["pendingFaults"] == {route: 1}  # the other client's waits for it


def test_faults_of_a_route_queue_up_in_order(sim: SimulatorProcess, api: httpx.Client, file_url: str) -> None:
    fault(sim, "dlp", status=500).raise_for_status()
    fault(sim, "dlp", status=502, count=2).raise_for_status()

    statuses = [call(api, "dlp", file_url).status_code for _ in range(4)]

    assert statuses == [500, 502, 502, 200]


@pytest.mark.parametrize("route", ["batch", "streaming", "dlp", "audit", "hold"])
def test_a_rate_limit_fault_answers_429_with_the_scripted_reset(
    sim: SimulatorProcess, api: httpx.Client, file_url: str, route: str
) -> None:
    fault(sim, route, kind="rate_limit", reset_ms=1234).raise_for_status()

    limited = call(api, route, file_url)
    served = call(api, route, file_url)

    assert limited.status_code == 429
    assert limited.headers["X-RateLimit-Reset"] == "1234"
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    assert limited.json()["fail"][0]["code"] == "too_many_requests"
    assert served.status_code == 200


@pytest.mark.parametrize("route", ["token", "batch", "dlp", "files"])
def test_a_slow_fault_delays_the_normal_answer_by_at_least_delay_ms(
    sim: SimulatorProcess, api: httpx.Client, file_url: str, route: str
) -> None:
    fault(sim, route, kind="slow", delay_ms=200).raise_for_status()

    started = time.monotonic()
    response = call(api, route, file_url)
    elapsed = time.monotonic() - started

    assert response.status_code == 200
    assert elapsed >= 0.2


@pytest.mark.parametrize("route", EVERY_ROUTE)
def test_a_drop_fault_closes_the_connection_part_way_through_the_body(
    sim: SimulatorProcess, api: httpx.Client, file_url: str, route: str
) -> None:
    fault(sim, route, kind="drop").raise_for_status()

    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        call(api, route, file_url)
    assert call(api, route, file_url).status_code == 200


@pytest.mark.parametrize("route", ["dlp", "audit", "hold"])
def test_a_fail_200_fault_answers_200_with_a_fail_on_api_routes(
    sim: SimulatorProcess, api: httpx.Client, file_url: str, route: str
) -> None:
    fault(sim, route, kind="fail_200").raise_for_status()

    response = call(api, route, file_url)

    assert response.status_code == 200
    body = response.json()
    assert body["data"] == []
    assert body["fail"]
    assert body["fail"][0]["errors"][0]["code"]
    assert call(api, route, file_url).json()["fail"] == []


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"route": "mail"}, id="an unknown route"),
        pytest.param({"route": "dlp", "kind": "explode"}, id="an unknown kind"),
        pytest.param({"route": "dlp", "count": 0}, id="count 0"),
        pytest.param({"kind": "status"}, id="no route"),
        *(
            pytest.param({"route": route, "kind": "fail_200"}, id=f"fail_200 on {route}")
            for route in ("token", "batch", "streaming", "files")
        ),
    ],
)
def test_a_fault_the_simulator_cannot_play_is_refused(sim: SimulatorProcess, options: dict[str, Any]) -> None:
    response = sim.control.post("/_sim/faults", json=options)

    assert response.status_code == 400
    assert response.json()["error"]
    assert sim.state()["pendingFaults"] == {}


def test_pending_faults_are_listed_and_can_be_cleared(
    sim: SimulatorProcess, api: httpx.Client, file_url: str
) -> None:
    fault(sim, "dlp", count=3).raise_for_status()
    fault(sim, "files", kind="drop").raise_for_status()
    call(api, "dlp", file_url)

    pending = sim.state()["pendingFaults"]
    cleared = sim.control.delete("/_sim/faults")

    assert pending == {"dlp": 2, "files": 1}
    assert cleared.json() == {"pending": {}}
    assert call(api, "dlp", file_url).status_code == 200


# Corrupted batch files


def corrupt(sim: SimulatorProcess, url: str, **options: Any) -> dict[str, Any]:
    response = sim.control.post("/_sim/files/corrupt", json={"file": url, **options})
    response.raise_for_status()
    answer: dict[str, Any] = response.json()
    return answer


def lines_of(response: httpx.Response) -> list[bytes]:
    assert response.status_code == 200
    return gzip.decompress(response.content).splitlines()


def test_a_truncated_file_fails_to_decompress(
    sim: SimulatorProcess, api: httpx.Client, file_url: str
) -> None:
    intact = api.get(file_url).content

    corrupt(sim, file_url, mode="truncate")
    served = api.get(file_url)

    assert served.status_code == 200
    assert len(served.content) < len(intact)
    with pytest.raises((EOFError, gzip.BadGzipFile, zlib.error)):
        gzip.decompress(served.content)


@pytest.mark.parametrize("line", [0, 1, 10_000])
def test_a_bad_line_is_one_line_of_invalid_json_among_the_files_records(
    sim: SimulatorProcess, api: httpx.Client, file_url: str, line: int
) -> None:
    intact = lines_of(api.get(file_url))

    answer = corrupt(sim, file_url, mode="bad_line", line=line)
    served = lines_of(api.get(file_url))

    broken = []
    for position, text in enumerate(served):
        try:
            json.loads(text)
        except ValueError:
            broken.append(position)
    assert broken == [min(line, len(intact))]
    rest = served[: broken[0]] + served[broken[0] + 1 :]
    assert rest == intact
    records = [json.loads(text) for text in intact]
    assert answer["recordIds"] == [f"{record['aggregateId']}:{record['type']}" for record in records]


def test_times_limits_how_many_downloads_are_corrupted(
    sim: SimulatorProcess, api: httpx.Client, file_url: str
) -> None:
    intact = api.get(file_url).content
    corrupt(sim, file_url, mode="truncate", times=2)

    downloads = [api.get(file_url).content for _ in range(3)]

    assert [body == intact for body in downloads] == [False, False, True]


def test_without_times_every_download_is_corrupted(
    sim: SimulatorProcess, api: httpx.Client, file_url: str
) -> None:
    intact = api.get(file_url).content
    corrupt(sim, file_url, mode="truncate")

    downloads = [api.get(file_url).content for _ in range(3)]

    assert all(body != intact for body in downloads)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            {"file": "/mimecast-siem-batch/C0000/1-0-0.json.gz", "mode": "truncate"}, id="unknown file"
        ),
        pytest.param({"mode": "truncate"}, id="no file"),
        pytest.param({"file": "FILE", "mode": "shuffle"}, id="an unknown mode"),
        pytest.param({"file": "FILE", "mode": "truncate", "times": 0}, id="times 0"),
        pytest.param({"file": "FILE", "mode": "bad_line", "line": -1}, id="a negative line"),
    ],
)
def test_a_corruption_the_simulator_cannot_apply_is_refused(
    sim: SimulatorProcess, api: httpx.Client, file_url: str, body: dict[str, Any]
) -> None:
    intact = api.get(file_url).content
    body = {key: file_url if value == "FILE" else value for key, value in body.items()}

    response = sim.control.post("/_sim/files/corrupt", json=body)

    assert response.status_code == 400
    assert response.json()["error"]
    assert api.get(file_url).content == intact


# Latency


def test_configured_latency_delays_every_mimecast_call_by_at_least_latency_ms(
    sim: SimulatorProcess, api: httpx.Client, file_url: str
) -> None:
    sim.configure(latency_ms=100)

    for route in EVERY_ROUTE:
        started = time.monotonic()
        response = call(api, route, file_url)
        assert time.monotonic() - started >= 0.1, route
        assert response.status_code == 200


def test_reset_brings_back_the_configured_options(sim: SimulatorProcess) -> None:
    sim.configure(latency_ms=200, duplicate_url_rate=1, quota_api=(1, 60))

    sim.reset()

    options = sim.state()["options"]
    assert options["latency_ms"] == 0
    assert options["duplicate_url_rate"] == 0.1
    assert options["quota_api"] == [1000, 60]


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"seed": 2}, id="not a runtime option"),
        pytest.param({"latency_ms": -1}, id="negative latency"),
        pytest.param({"duplicate_url_rate": 2}, id="a rate above 1"),
    ],
)
def test_a_configuration_change_the_simulator_cannot_make_is_refused(
    sim: SimulatorProcess, change: dict[str, Any]
) -> None:
    response = sim.control.post("/_sim/config", json=change)

    assert response.status_code == 400
    assert sim.state()["options"]["seed"] == 7


# The clock


def sim_now(sim: SimulatorProcess) -> datetime:
    return datetime.fromisoformat(sim.state()["now"].replace("Z", "+00:00"))


def test_a_frozen_clock_moves_exactly_as_far_as_it_is_advanced(sim: SimulatorProcess) -> None:
    before = sim_now(sim)

    answer = sim.control.post("/_sim/clock/advance", json={"seconds": 90.5}).json()

    assert sim.state()["clockFrozen"] is True
    assert (sim_now(sim) - before).total_seconds() == 90.5
    assert answer["now"] == sim.state()["now"]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"seconds": -1}, id="backwards"),
        pytest.param({"seconds": "soon"}, id="not a number"),
        pytest.param({}, id="no seconds"),
    ],
)
def test_the_clock_refuses_to_go_backwards_or_anywhere_unstated(
    sim: SimulatorProcess, body: dict[str, Any]
) -> None:
    before = sim.state()["now"]

    response = sim.control.post("/_sim/clock/advance", json=body)

    assert response.status_code == 400
    assert sim.state()["now"] == before


def test_a_resumed_clock_runs_on_from_where_it_stood(sim: SimulatorProcess) -> None:
    sim.advance(60)
    stood = sim_now(sim)

    resumed = sim.control.post("/_sim/clock/resume").json()

    assert resumed["frozen"] is False
    assert sim.state()["clockFrozen"] is False
    assert sim_now(sim) >= stood
    sim.reset()
    assert sim.state()["clockFrozen"] is False


# The control plane's own guard and its counters

CONTROL_ROUTES = [
    ("GET", "/_sim/state"),
    ("POST", "/_sim/reset"),
    ("POST", "/_sim/faults"),
    ("DELETE", "/_sim/faults"),
    ("POST", "/_sim/tokens/expire"),
    ("POST", "/_sim/clients"),
    ("POST", f"/_sim/clients/{CLIENT_ID}/revoke"),
    ("POST", f"/_sim/clients/{CLIENT_ID}/rotate"),
    ("POST", "/_sim/files/corrupt"),
    ("POST", "/_sim/clock/advance"),
    ("POST", "/_sim/clock/freeze"),
    ("POST", "/_sim/clock/resume"),
    ("POST", "/_sim/config"),
    ("GET", "/_sim/truth"),
]


@pytest.mark.parametrize(("method", "path"), CONTROL_ROUTES)
@pytest.mark.parametrize("guard", [None, "wrong-token", CONTROL_TOKEN.upper()], ids=["none", "wrong", "case"])
def test_the_control_plane_refuses_calls_without_its_token(
    sim: SimulatorProcess, api: httpx.Client, method: str, path: str, guard: str | None
) -> None:
    headers = {"X-Sim-Token": guard} if guard else {}

    response = api.request(method, path, json={"seconds": 3600}, headers=headers)

    assert response.status_code == 401
    assert response.json()["error"]
    assert api.post("/api/dlp/get-logs", json=API["dlp"][2]).status_code == 200, "nothing changed"


def test_health_needs_no_token(api: httpx.Client) -> None:
    assert api.get("/_sim/health").json() == {"status": "ok"}


def test_state_counts_the_calls_of_every_route_faulted_or_not(
    sim: SimulatorProcess, api: httpx.Client, file_url: str
) -> None:
    fault(sim, "dlp", status=503).raise_for_status()
    for route, times in {"dlp": 3, "audit": 1, "hold": 2, "streaming": 1, "files": 2, "batch": 1}.items():
        for _ in range(times):
            call(api, route, file_url)
    api.get("/siem/v1/events/cg", headers={"Authorization": "Bearer unknown"})

    calls = sim.state()["calls"]

    # The fixtures took one token and listed the batch files once.
    assert calls == {"token": 1, "batch": 2, "dlp": 3, "audit": 1, "hold": 2, "streaming": 2, "files": 2}
    sim.reset()
    assert sim.state()["calls"] == {}


# The ground truth's own contract


def test_the_truth_answers_collection_count_and_ids(sim: SimulatorProcess) -> None:
    answer = sim.control.get("/_sim/truth", params={"collection": "dlp"}).json()

    assert set(answer) == {"collection", "count", "ids"}
    assert answer["collection"] == "dlp"
    assert answer["count"] == len(answer["ids"]) > 0
    assert len(set(answer["ids"])) == answer["count"]


def test_the_truth_takes_its_bounds_as_epoch_ms_or_iso_times(sim: SimulatorProcess) -> None:
    now = sim_now(sim)
    second = int(now.timestamp()) * 1000  # `until` below is written in whole seconds
    since, until = second - 3_600_000, second - 1_800_000
    as_iso = {
        "since": datetime.fromtimestamp(since / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "until": datetime.fromtimestamp(until / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S+0000"),
    }

    by_ms = sim.truth("auditEvent", since=since, until=until)
    by_iso = sim.truth("auditEvent", **as_iso)

    assert by_ms
    assert by_ms == by_iso
    assert set(by_ms) < set(sim.truth("auditEvent"))


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"collection": "mail"}, id="an unknown collection"),
        pytest.param({}, id="no collection"),
        pytest.param({"collection": "siem", "via": "legacy"}, id="an unknown way"),
        pytest.param({"collection": "dlp", "since": "an hour ago"}, id="a bound that is no time"),
    ],
)
def test_a_truth_question_the_simulator_cannot_answer_is_a_400(
    sim: SimulatorProcess, params: dict[str, str]
) -> None:
    response = sim.control.get("/_sim/truth", params=params)

    assert response.status_code == 400
    assert response.json()["error"]

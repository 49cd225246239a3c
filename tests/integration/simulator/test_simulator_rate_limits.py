"""Quotas per client and endpoint, with `X-RateLimit-*` headers and 429 once spent (spec 4, 10)."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from contextlib import closing
from typing import Any

import httpx
import pytest

from tests.support.simulator import CLIENT_ID, CLIENT_SECRET, SimulatorProcess

WIDE = ("2000-01-01T00:00:00+0000", "2100-01-01T00:00:00+0000")
# route -> (quota setting, method, path, a good request body, a body the route refuses with a fail)
ROUTES: dict[str, tuple[str, str, str, Any, Any]] = {
    "batch": ("quota_batch", "GET", "/siem/v1/batch/events/cg", None, None),
    "streaming": ("quota_streaming", "GET", "/siem/v1/events/cg", None, None),
    "dlp": (
        "quota_api",
        "POST",
        "/api/dlp/get-logs",
        {"data": [dict(zip(("from", "to"), WIDE, strict=True))]},
        {},
    ),
    "audit": (
        "quota_api",
        "POST",
        "/api/audit/get-audit-events",
        {"data": [dict(zip(("startDateTime", "endDateTime"), WIDE, strict=True))]},
        {"data": [{}]},
    ),
    "hold": ("quota_api", "POST", "/api/gateway/get-hold-message-list", {"data": [{}]}, {"data": "all"}),
}
BAD_SIEM_QUERY = {"type": "no such type"}
DEFAULT_QUOTAS = {"quota_batch": (50, 900), "quota_streaming": (300, 3600), "quota_api": (1000, 60)}

# httpx builds a TLS context for every client (~0.1 s each); these clients speak plain HTTP on
# loopback, so they share one context, built once.
TLS = ssl.create_default_context()


@pytest.fixture
def sim(simulator: SimulatorProcess) -> SimulatorProcess:
    """The shared simulator, reset, its clock frozen so that quota windows move only when told."""
    simulator.control.post("/_sim/clock/freeze").raise_for_status()
    return simulator


def connect(sim: SimulatorProcess, client_id: str = CLIENT_ID, secret: str = CLIENT_SECRET) -> httpx.Client:
    """A client of `sim` holding a fresh bearer token of `client_id`."""
    client = httpx.Client(base_url=sim.url, timeout=30, verify=TLS)
    form = {"client_id": client_id, "client_secret": secret, "grant_type": "client_credentials"}
    response = client.post("/oauth/token", data=form)
    response.raise_for_status()
    client.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
    return client


@pytest.fixture
def api(sim: SimulatorProcess) -> Iterator[httpx.Client]:
    with closing(connect(sim)) as client:
        yield client


def call(api: httpx.Client, route: str, refused: bool = False) -> httpx.Response:
    _, method, path, good, bad = ROUTES[route]
    if method == "GET":
        return api.get(path, params=BAD_SIEM_QUERY if refused else None)
    return api.post(path, json=bad if refused else good)


def quota(response: httpx.Response) -> tuple[int, int, int]:
    """`X-RateLimit-Limit`, `-Remaining` and `-Reset` as numbers."""
    headers = response.headers
    return (
        int(headers["X-RateLimit-Limit"]),
        int(headers["X-RateLimit-Remaining"]),
        int(headers["X-RateLimit-Reset"]),
    )


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("refused", [False, True], ids=["answered", "refused as malformed"])
def test_every_api_answer_carries_the_quota_of_its_endpoint(
    api: httpx.Client, route: str, refused: bool
) -> None:
    limit, window_s = DEFAULT_QUOTAS[ROUTES[route][0]]

    first, second = call(api, route, refused), call(api, route, refused)

    assert first.status_code == (400 if refused and route in ("batch", "streaming") else 200)
    assert bool(first.json().get("fail") or first.json().get("error")) is refused
    assert quota(first)[:2] == (limit, limit - 1)
    assert quota(second)[:2] == (limit, limit - 2)
    assert 0 < quota(second)[2] <= window_s * 1000


def test_a_body_that_is_not_json_still_carries_the_quota(api: httpx.Client) -> None:
    response = api.post("/api/dlp/get-logs", content=b"{", headers={"Content-Type": "application/json"})

    assert response.status_code == 400
    assert quota(response)[:2] == (1000, 999)


@pytest.mark.parametrize("route", ROUTES)
def test_a_spent_quota_answers_429_until_its_window_reopens(
    sim: SimulatorProcess, api: httpx.Client, route: str
) -> None:
    sim.configure(**{ROUTES[route][0]: (3, 900)})

    answered = [call(api, route) for _ in range(3)]
    refused = call(api, route)

    assert [response.status_code for response in answered] == [200, 200, 200]
    assert [quota(response)[1] for response in answered] == [2, 1, 0]
    assert refused.status_code == 429
    assert refused.json()["fail"][0]["code"] == "too_many_requests"
    limit, remaining, reset_ms = quota(refused)
    assert (limit, remaining) == (3, 0)
    assert 0 < reset_ms <= 900_000

    sim.advance(reset_ms / 1000 + 0.01)
    reopened = [call(api, route) for _ in range(4)]

    assert [response.status_code for response in reopened] == [200, 200, 200, 429]
    assert quota(reopened[0])[:2] == (3, 2)
    assert 899_000 < quota(reopened[-1])[2] <= 900_000, "a whole window ahead, in milliseconds"


def test_reset_counts_down_the_milliseconds_to_the_next_window(
    sim: SimulatorProcess, api: httpx.Client
) -> None:
    sim.configure(quota_batch=(1, 900))
    call(api, "batch")
    sim.advance(quota(call(api, "batch"))[2] / 1000 + 0.01)
    opening = call(api, "batch")

    sim.advance(250.5)
    later = call(api, "batch")

    assert opening.status_code == 200
    assert later.status_code == 429
    assert quota(opening)[2] - quota(later)[2] in (250_499, 250_500, 250_501)


def test_quotas_are_counted_per_client_and_per_endpoint(sim: SimulatorProcess, api: httpx.Client) -> None:
    sim.configure(quota_api=(2, 60), quota_batch=(1, 900))
    body = {"client_id": "second", "client_secret": "second-secret"}
    sim.control.post("/_sim/clients", json=body).raise_for_status()
    spend: Callable[[str], int] = lambda route: call(api, route).status_code  # noqa: E731

    assert [spend("dlp"), spend("dlp"), spend("dlp")] == [200, 200, 429]
    assert [spend("batch"), spend("batch")] == [200, 429]
    assert spend("audit") == 200
    assert spend("hold") == 200
    assert spend("streaming") == 200
    with closing(connect(sim, "second", "second-secret")) as second:
        assert call(second, "dlp").status_code == 200
        assert call(second, "batch").status_code == 200


def test_quotas_given_at_start_apply_from_the_first_call(
    start_simulator: Callable[..., SimulatorProcess],
) -> None:
    sim = start_simulator(quota_batch=(3, 900), quota_api=(5, 60), clock_frozen=True, backlog_hours=0.5)

    with closing(connect(sim)) as api:
        batch = [call(api, "batch").status_code for _ in range(4)]
        dlp = call(api, "dlp")

    assert batch == [200, 200, 200, 429]
    assert quota(dlp)[:2] == (5, 4)

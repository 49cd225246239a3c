"""The simulator's OAuth2 token route and the bearer gate before every Mimecast API route (spec 2)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.simulator import CLIENT_ID, CLIENT_SECRET, SimulatorProcess

WIDE = {"from": "2000-01-01T00:00:00+0000", "to": "2100-01-01T00:00:00+0000"}
# route name -> (method, path, JSON body, the collection (application permission) it needs)
ROUTES: dict[str, tuple[str, str, Any, str]] = {
    "siem batch": ("GET", "/siem/v1/batch/events/cg", None, "siem"),
    "siem streaming": ("GET", "/siem/v1/events/cg", None, "siem"),
    "dlp": ("POST", "/api/dlp/get-logs", {"data": [WIDE]}, "dlp"),
    "audit": (
        "POST",
        "/api/audit/get-audit-events",
        {"data": [{"startDateTime": WIDE["from"], "endDateTime": WIDE["to"]}]},
        "auditEvent",
    ),
    "hold": ("POST", "/api/gateway/get-hold-message-list", {"data": [{"admin": True}]}, "holdMessageList"),
}
ALL_COLLECTIONS = ["siem", "dlp", "auditEvent", "holdMessageList"]


# httpx builds a TLS context for every client (~0.1 s each); these clients speak plain HTTP on
# loopback, so they share one context, built once.
TLS = ssl.create_default_context()


@pytest.fixture
def http(simulator: SimulatorProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=simulator.url, timeout=30, verify=TLS) as client:
        yield client


def token_form(client_id: str = CLIENT_ID, secret: str = CLIENT_SECRET, **extra: str) -> dict[str, str]:
    return {"client_id": client_id, "client_secret": secret, "grant_type": "client_credentials", **extra}


def issue(http: httpx.Client, client_id: str = CLIENT_ID, secret: str = CLIENT_SECRET) -> str:
    response = http.post("/oauth/token", data=token_form(client_id, secret))
    response.raise_for_status()
    token: str = response.json()["access_token"]
    return token


def call(http: httpx.Client, route: str, token: str | None) -> httpx.Response:
    method, path, body, _ = ROUTES[route]
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return http.request(method, path, json=body, headers=headers)


def gateway_code(response: httpx.Response) -> str:
    fail = response.json()["fail"]
    assert len(fail) == 1
    assert fail[0]["message"]
    code: str = fail[0]["code"]
    return code


def add_client(simulator: SimulatorProcess, client_id: str, collections: list[str]) -> None:
    body = {"client_id": client_id, "client_secret": f"{client_id}-secret", "collections": collections}
    simulator.control.post("/_sim/clients", json=body).raise_for_status()


# Token route


def test_valid_credentials_get_an_opaque_bearer_token_for_1799_seconds(http: httpx.Client) -> None:
    first = http.post("/oauth/token", data=token_form())
    second = http.post("/oauth/token", data=token_form())

    assert first.status_code == 200
    body = first.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 1799
    assert body["scope"] == ""
    assert isinstance(body["access_token"], str)
    assert len(body["access_token"]) >= 20
    assert second.json()["access_token"] != body["access_token"]


@pytest.mark.parametrize(
    ("client_id", "secret"),
    [
        pytest.param(CLIENT_ID, "wrong-secret", id="wrong secret"),
        pytest.param("unknown-client", CLIENT_SECRET, id="unknown client id"),
        pytest.param("", "", id="empty credentials"),
    ],
)
def test_wrong_credentials_are_refused_with_401_invalid_client_identifier(
    http: httpx.Client, client_id: str, secret: str
) -> None:
    response = http.post("/oauth/token", data=token_form(client_id, secret))

    assert response.status_code == 401
    assert response.json() == {
        "fail": [{"code": "InvalidClientIdentifier", "message": "Client credentials are invalid"}]
    }


def test_with_token_error_status_400_wrong_credentials_get_a_bare_400(
    simulator: SimulatorProcess, http: httpx.Client
) -> None:
    simulator.configure(token_error_status=400)

    response = http.post("/oauth/token", data=token_form(secret="wrong-secret"))

    assert response.status_code == 400
    assert response.content == b""
    assert http.post("/oauth/token", data=token_form()).status_code == 200


@pytest.mark.parametrize(
    "form",
    [
        pytest.param({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}, id="missing grant_type"),
        pytest.param(token_form(grant_type="password"), id="password grant"),
        pytest.param(token_form(grant_type=""), id="empty grant_type"),
    ],
)
def test_a_grant_other_than_client_credentials_is_a_400(http: httpx.Client, form: dict[str, str]) -> None:
    response = http.post("/oauth/token", data=form)

    assert response.status_code == 400
    assert gateway_code(response) == "unsupported_grant_type"


# The bearer gate


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(None, id="no header"),
        pytest.param("Bearer never-issued-token", id="unknown token"),
        pytest.param("Bearer", id="bearer without a token"),
        pytest.param(f"Basic {CLIENT_ID}:{CLIENT_SECRET}", id="basic scheme"),
    ],
)
def test_a_call_without_a_valid_bearer_gets_401_token_verification_failed(
    http: httpx.Client, route: str, authorization: str | None
) -> None:
    method, path, body, _ = ROUTES[route]
    headers = {"Authorization": authorization} if authorization is not None else {}

    response = http.request(method, path, json=body, headers=headers)

    assert response.status_code == 401
    assert gateway_code(response) == "token_verification_failed"
    assert response.headers["x-request-id"]


@pytest.mark.parametrize("route", ROUTES)
def test_after_the_control_plane_expires_all_tokens_every_route_answers_401_token_expired(
    simulator: SimulatorProcess, http: httpx.Client, route: str
) -> None:
    token = issue(http)
    assert call(http, route, token).status_code == 200

    expired = simulator.control.post("/_sim/tokens/expire")

    assert expired.json()["expired"] >= 1
    response = call(http, route, token)
    assert response.status_code == 401
    assert gateway_code(response) == "token_expired"
    assert call(http, route, issue(http)).status_code == 200


def test_a_token_lives_1799_seconds_of_simulated_time(
    simulator: SimulatorProcess, http: httpx.Client
) -> None:
    simulator.control.post("/_sim/clock/freeze").raise_for_status()
    token = issue(http)

    simulator.advance(1798)
    assert call(http, "dlp", token).status_code == 200

    simulator.advance(1)
    response = call(http, "dlp", token)
    assert response.status_code == 401
    assert gateway_code(response) == "token_expired"


def test_every_answer_carries_its_own_x_request_id(simulator: SimulatorProcess, http: httpx.Client) -> None:
    token = issue(http)
    listing = call(http, "siem batch", token)
    answers = [
        http.post("/oauth/token", data=token_form()),
        http.post("/oauth/token", data=token_form(secret="wrong")),
        http.post("/oauth/token", data={"grant_type": "password"}),
        *(call(http, route, token) for route in ROUTES),
        *(call(http, route, "unknown") for route in ROUTES),
        listing,
        http.get(listing.json()["value"][0]["url"]),
        http.get("/mimecast-siem-batch/C0000/1-0-0.json.gz"),
        http.get(
            "/siem/v1/batch/events/cg", params={"type": "nope"}, headers={"Authorization": f"Bearer {token}"}
        ),
    ]

    ids = [answer.headers.get("x-request-id") for answer in answers]
    assert all(ids), [(answer.request.url, answer.status_code) for answer in answers]
    assert len(set(ids)) == len(ids)


# Application permissions and credential changes


@pytest.mark.parametrize("route", ROUTES)
def test_a_client_lacking_the_collection_of_a_route_gets_403_app_forbidden(
    simulator: SimulatorProcess, http: httpx.Client, route: str
) -> None:
    needed = ROUTES[route][3]
    add_client(simulator, "without", [c for c in ALL_COLLECTIONS if c != needed])
    add_client(simulator, "only", [needed])

    refused = call(http, route, issue(http, "without", "without-secret"))
    allowed = call(http, route, issue(http, "only", "only-secret"))

    assert refused.status_code == 403
    assert refused.json() == {
        "fail": [{"code": "app_forbidden", "message": "Forbidden to perform the requested operation"}]
    }
    assert allowed.status_code == 200


def test_a_client_with_an_unknown_collection_is_not_created(simulator: SimulatorProcess) -> None:
    body = {"client_id": "odd", "client_secret": "s", "collections": ["siem", "mail"]}

    response = simulator.control.post("/_sim/clients", json=body)

    assert response.status_code == 400
    assert "mail" in response.json()["error"]


def test_a_revoked_client_gets_no_token_and_its_tokens_stop_working(
    simulator: SimulatorProcess, http: httpx.Client
) -> None:
    token = issue(http)

    revoked = simulator.control.post(f"/_sim/clients/{CLIENT_ID}/revoke")

    assert revoked.json() == {"client_id": CLIENT_ID, "revoked": True}
    refused = http.post("/oauth/token", data=token_form())
    assert refused.status_code == 401
    assert gateway_code(refused) == "InvalidClientIdentifier"
    response = call(http, "dlp", token)
    assert response.status_code == 401
    assert gateway_code(response) == "token_verification_failed"


def test_rotating_the_secret_retires_the_old_one_and_lifts_a_revocation(
    simulator: SimulatorProcess, http: httpx.Client
) -> None:
    simulator.control.post(f"/_sim/clients/{CLIENT_ID}/revoke").raise_for_status()

    rotated = simulator.control.post(f"/_sim/clients/{CLIENT_ID}/rotate").json()
    chosen = simulator.control.post(f"/_sim/clients/{CLIENT_ID}/rotate", json={"client_secret": "chosen"})

    assert rotated["client_id"] == CLIENT_ID
    assert rotated["client_secret"] not in ("", CLIENT_SECRET)
    assert chosen.json() == {"client_id": CLIENT_ID, "client_secret": "chosen"}
    assert http.post("/oauth/token", data=token_form()).status_code == 401
    assert http.post("/oauth/token", data=token_form(secret=rotated["client_secret"])).status_code == 401
    assert call(http, "dlp", issue(http, CLIENT_ID, "chosen")).status_code == 200


def test_reset_brings_back_the_configured_credentials(
    simulator: SimulatorProcess, http: httpx.Client
) -> None:
    simulator.control.post(f"/_sim/clients/{CLIENT_ID}/rotate").raise_for_status()
    add_client(simulator, "extra", ["dlp"])

    simulator.reset()

    assert http.post("/oauth/token", data=token_form()).status_code == 200
    assert http.post("/oauth/token", data=token_form("extra", "extra-secret")).status_code == 401


@pytest.mark.parametrize("action", ["revoke", "rotate"])
def test_revoking_or_rotating_an_unknown_client_is_a_404(simulator: SimulatorProcess, action: str) -> None:
    response = simulator.control.post(f"/_sim/clients/nobody/{action}")

    assert response.status_code == 404
    assert "nobody" in response.json()["error"]

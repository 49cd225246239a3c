"""The thin client over HTTP: gateways, the token grant, bearer calls, batch files, one error boundary.

Mimecast is faked with httpx.MockTransport handlers; nothing of ours is replaced.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import parse_qs

import httpx
import pytest

from core.clock import ManualClock
from core.errors import FileGone, RateLimited, ThirdPartyConfigError, ThirdPartyGenericError, TokenRejected
from core.mimecast.auth import MemoryTokenCache, Session, TokenFlow
from core.mimecast.client import DEFAULT_TIMEOUT, MimecastClient, base_url
from core.models import Credentials, Request

BASE = "https://api.services.mimecast.com"
CREDENTIALS = Credentials("app-id", "app-secret")
FILE_URL = "https://bucket.s3.eu-west-1.amazonaws.com/siem/f1.gz?X-Amz-Expires=60&X-Amz-Signature=deadbeef"
Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2024, 6, 1, tzinfo=UTC))


def client_for(handler: Handler, clock: ManualClock) -> MimecastClient:
    return MimecastClient(BASE, clock, transport=httpx.MockTransport(handler))


@pytest.mark.parametrize(
    ("gateway", "override", "url"),
    [
        ("global", None, "https://api.services.mimecast.com"),
        ("us", None, "https://us-api.services.mimecast.com"),
        ("uk", None, "https://uk-api.services.mimecast.com"),
        ("global", "http://127.0.0.1:8025/", "http://127.0.0.1:8025"),
    ],
)
def test_the_base_url_is_a_known_gateway_or_an_explicit_override(
    gateway: str, override: str | None, url: str
) -> None:
    assert base_url(gateway, override) == url


@pytest.mark.parametrize(
    ("gateway", "override"), [("eu", None), ("global", "ftp://x"), ("global", "not a url")]
)
def test_an_unknown_gateway_or_a_malformed_override_is_a_config_error(
    gateway: str, override: str | None
) -> None:
    with pytest.raises(ThirdPartyConfigError):
        base_url(gateway, override)


def test_timeouts_are_explicit() -> None:
    assert None not in (
        DEFAULT_TIMEOUT.connect,
        DEFAULT_TIMEOUT.read,
        DEFAULT_TIMEOUT.write,
        DEFAULT_TIMEOUT.pool,
    )


def test_the_token_grant_posts_the_client_credentials_form(clock: ManualClock) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"access_token": "tok", "token_type": "Bearer", "expires_in": 1799})

    token = client_for(handler, clock).request_token(CREDENTIALS)
    assert (seen[0].method, str(seen[0].url)) == ("POST", f"{BASE}/oauth/token")
    assert seen[0].headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qs(seen[0].content.decode()) == {
        "client_id": ["app-id"],
        "client_secret": ["app-secret"],
        "grant_type": ["client_credentials"],
    }
    assert (token.value, token.expires_at) == ("tok", clock.now().timestamp() + 1799)


def test_a_token_answer_without_a_lifetime_is_given_mimecasts_documented_one(clock: ManualClock) -> None:
    token = client_for(lambda _: httpx.Response(200, json={"access_token": "tok"}), clock).request_token(
        CREDENTIALS
    )
    assert token.expires_at == clock.now().timestamp() + 1799


def test_bad_credentials_are_a_config_error_with_mimecasts_message(clock: ManualClock) -> None:
    body = {"fail": [{"code": "InvalidClientIdentifier", "message": "Client credentials are invalid"}]}
    client = client_for(lambda _: httpx.Response(401, json=body), clock)
    with pytest.raises(ThirdPartyConfigError) as raised:
        client.request_token(CREDENTIALS)
    assert raised.value.status == 401
    assert raised.value.summary == "InvalidClientIdentifier: Client credentials are invalid"


def test_an_api_call_sends_the_bearer_token_the_json_body_and_the_query(clock: ManualClock) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"meta": {"status": 200}, "data": [], "fail": []})

    client = client_for(handler, clock)
    client.call(Request("POST", "/api/dlp/get-logs", body={"data": [{"from": "x"}]}), "tok")
    client.call(
        Request("GET", "/siem/v1/events/cg", params=(("pageSize", "100"), ("nextPage", "n=1"))), "tok"
    )
    assert seen[0].headers["authorization"] == "Bearer tok"
    assert json.loads(seen[0].content) == {"data": [{"from": "x"}]}
    assert str(seen[1].url) == f"{BASE}/siem/v1/events/cg?pageSize=100&nextPage=n%3D1"


def test_a_200_with_a_fail_list_is_an_error(clock: ManualClock) -> None:
    body = {"meta": {"status": 400}, "data": [], "fail": [{"errors": [{"code": "err_validation_blank"}]}]}
    with pytest.raises(ThirdPartyGenericError, match="err_validation_blank"):
        client_for(lambda _: httpx.Response(200, json=body), clock).call(Request("POST", "/api/x"), "tok")


def test_a_429_carries_the_wait_mimecast_asked_for(clock: ManualClock) -> None:
    client = client_for(lambda _: httpx.Response(429, headers={"X-RateLimit-Reset": "4500"}), clock)
    with pytest.raises(RateLimited) as raised:
        client.call(Request("GET", "/siem/v1/batch/events/cg"), "tok")
    assert raised.value.wait_seconds == 4.5


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ConnectError("[Errno 111] Connection refused"),
        httpx.ReadTimeout("timed out"),
        httpx.RemoteProtocolError("peer closed connection"),
    ],
)
def test_network_failures_become_generic_third_party_errors(clock: ManualClock, failure: Exception) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise failure

    with pytest.raises(ThirdPartyGenericError) as raised:
        client_for(handler, clock).call(Request("GET", "/siem/v1/events/cg"), "tok")
    assert raised.value.status is None
    assert raised.value.__cause__ is None  # nothing of the request travels on in a chained exception


class Chunks(httpx.SyncByteStream):
    """A body that arrives over time, as from a socket."""

    def __init__(self, *pieces: bytes) -> None:
        self.pieces = pieces

    def __iter__(self):  # type: ignore[no-untyped-def]
        yield from self.pieces


def test_a_batch_file_is_fetched_without_the_authorization_header_and_streamed_raw(
    clock: ManualClock,
) -> None:
    seen: list[httpx.Request] = []
    data = gzip.compress(b'{"a":1}\n')

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, stream=Chunks(data[:5], data[5:]), headers={"Content-Encoding": "gzip"})

    with client_for(handler, clock).open_file(FILE_URL) as raw:
        assert b"".join(raw) == data  # raw bytes: the reader inflates them itself
    assert "authorization" not in seen[0].headers
    assert str(seen[0].url) == FILE_URL


@pytest.mark.parametrize("status", [403, 404])
def test_an_expired_or_missing_batch_file_is_file_gone_and_its_url_is_not_shown(
    clock: ManualClock, status: int
) -> None:
    xml = b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>" + b" " * 100_000
    client = client_for(lambda _: httpx.Response(status, content=xml), clock)
    with pytest.raises(FileGone) as raised, client.open_file(FILE_URL):
        pass
    assert raised.value.summary == "AccessDenied"
    assert "deadbeef" not in str(raised.value)


def test_a_file_read_that_breaks_midway_is_a_generic_error_without_the_signed_url(clock: ManualClock) -> None:
    class Broken(httpx.SyncByteStream):
        def __iter__(self):  # type: ignore[no-untyped-def]
            yield b"\x1f\x8b"
            raise httpx.ReadError(f"connection reset while reading {FILE_URL}")

    client = client_for(lambda _: httpx.Response(200, stream=Broken()), clock)
    with pytest.raises(ThirdPartyGenericError) as raised, client.open_file(FILE_URL) as raw:
        b"".join(raw)
    assert "deadbeef" not in str(raised.value)


def test_an_expired_token_mid_pagination_is_refreshed_once_and_the_same_page_asked_again(
    clock: ManualClock,
) -> None:
    # Given Mimecast that rejects the first token when the second page is asked for
    tokens = iter(["token-1", "token-2"])
    seen: list[tuple[str, str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json={"access_token": next(tokens), "expires_in": 1799})
        body = json.loads(request.content)
        seen.append((request.headers["authorization"], request.url.path, body))
        if request.headers["authorization"] == "Bearer token-1" and body["meta"]["pagination"].get(
            "pageToken"
        ):
            return httpx.Response(401, json={"fail": [{"code": "token_expired", "message": "expired"}]})
        return httpx.Response(200, json={"meta": {"pagination": {}}, "data": [], "fail": []})

    client = client_for(handler, clock)
    session = Session(client, TokenFlow(MemoryTokenCache(clock), client.request_token, clock), CREDENTIALS)
    first = Request("POST", "/api/audit/get-audit-events", body={"meta": {"pagination": {"pageSize": 5}}})
    second = Request(
        "POST", "/api/audit/get-audit-events", body={"meta": {"pagination": {"pageToken": "p2"}}}
    )
    session.call(first)
    session.call(second)
    # Then the second page was asked twice, with the same page token, the second time with a new token
    assert [(auth, body) for auth, _, body in seen[1:]] == [
        ("Bearer token-1", second.body),
        ("Bearer token-2", second.body),
    ]


def test_a_token_rejected_twice_is_raised(clock: ManualClock) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json={"access_token": "t", "expires_in": 1799})
        return httpx.Response(401, json={"fail": [{"code": "token_verification_failed", "message": "bad"}]})

    client = client_for(handler, clock)
    session = Session(client, TokenFlow(MemoryTokenCache(clock), client.request_token, clock), CREDENTIALS)
    with pytest.raises(TokenRejected):
        session.call(Request("GET", "/siem/v1/events/cg"))

"""auth: one cached token per credential pair, refreshed before expiry, one refresher at a time."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from core.clock import ManualClock
from core.errors import ThirdPartyConfigError, ThirdPartyGenericError, TokenRejected
from core.mimecast.auth import MemoryTokenCache, Session, TokenFlow
from core.models import AccessToken, Credentials, JsonObject, Request

CREDENTIALS = Credentials("app-id", "app-secret")
REQUEST = Request("POST", "/api/audit/get-audit-events", body={"data": [{}]})


class TokenEndpoint:
    """Mimecast's /oauth/token, in memory: numbered tokens living 1799 s."""

    def __init__(self, clock: ManualClock, refuse: bool = False) -> None:
        self.clock = clock
        self.refuse = refuse
        self.issued: list[str] = []

    def __call__(self, credentials: Credentials) -> AccessToken:
        if self.refuse:
            raise ThirdPartyConfigError("InvalidClientIdentifier: Client credentials are invalid", status=401)
        self.issued.append(f"token-{len(self.issued) + 1}")
        return AccessToken(self.issued[-1], self.clock.now().timestamp() + 1799)


class Api:
    """An API route, in memory: refuses the tokens it is told to refuse, records what it saw."""

    def __init__(self, refused: set[str]) -> None:
        self.refused = refused
        self.seen: list[tuple[Request, str]] = []

    def call(self, request: Request, token: str) -> JsonObject:
        self.seen.append((request, token))
        if token in self.refused:
            raise TokenRejected("token_expired: expired", status=401, code="token_expired")
        return {"data": [], "fail": []}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2024, 6, 1, tzinfo=UTC))


def test_a_token_is_asked_for_once_and_then_reused(clock: ManualClock) -> None:
    endpoint = TokenEndpoint(clock)
    flow = TokenFlow(MemoryTokenCache(clock), endpoint, clock)
    assert [flow.token(CREDENTIALS) for _ in range(5)] == ["token-1"] * 5
    assert endpoint.issued == ["token-1"]


def test_a_token_is_refreshed_before_it_expires(clock: ManualClock) -> None:
    # Given a token 1799 s long and a 300 s margin
    endpoint = TokenEndpoint(clock)
    flow = TokenFlow(MemoryTokenCache(clock), endpoint, clock, refresh_margin=300)
    flow.token(CREDENTIALS)
    # When 1498 s have passed it is still used; at 1500 s a new one is asked for
    clock.advance(1498)
    assert flow.token(CREDENTIALS) == "token-1"
    clock.advance(2)
    assert flow.token(CREDENTIALS) == "token-2"


def test_each_credential_pair_has_its_own_token(clock: ManualClock) -> None:
    endpoint = TokenEndpoint(clock)
    flow = TokenFlow(MemoryTokenCache(clock), endpoint, clock)
    assert flow.token(CREDENTIALS) != flow.token(Credentials("other-id", "other-secret"))


def test_bad_credentials_are_a_config_error_and_no_token_is_cached(clock: ManualClock) -> None:
    cache = MemoryTokenCache(clock)
    flow = TokenFlow(cache, TokenEndpoint(clock, refuse=True), clock)
    with pytest.raises(ThirdPartyConfigError):
        flow.token(CREDENTIALS)
    assert cache.get(CREDENTIALS.key) is None
    assert cache.try_lock(CREDENTIALS.key, "someone", 30)  # the lock was given back


def test_a_rejected_token_is_refreshed_once_and_the_same_request_sent_again(clock: ManualClock) -> None:
    # Given a cached token that Mimecast now says has expired
    endpoint = TokenEndpoint(clock)
    flow = TokenFlow(MemoryTokenCache(clock), endpoint, clock)
    api = Api(refused={"token-1"})
    session = Session(api, flow, CREDENTIALS)
    # When a request is sent
    answer = session.call(REQUEST)
    # Then it is sent twice, the second time with a new token, and the answer is the second one
    assert answer == {"data": [], "fail": []}
    assert api.seen == [(REQUEST, "token-1"), (REQUEST, "token-2")]


def test_a_token_rejected_again_after_a_refresh_is_raised_not_retried_for_ever(clock: ManualClock) -> None:
    endpoint = TokenEndpoint(clock)
    api = Api(refused={"token-1", "token-2", "token-3"})
    session = Session(api, TokenFlow(MemoryTokenCache(clock), endpoint, clock), CREDENTIALS)
    with pytest.raises(TokenRejected):
        session.call(REQUEST)
    assert len(api.seen) == 2
    assert endpoint.issued == ["token-1", "token-2"]


def test_a_worker_whose_token_was_rejected_uses_the_one_another_worker_just_fetched(
    clock: ManualClock,
) -> None:
    # Given two workers sharing a cache, both holding token-1
    endpoint = TokenEndpoint(clock)
    cache = MemoryTokenCache(clock)
    first, second = TokenFlow(cache, endpoint, clock), TokenFlow(cache, endpoint, clock)
    assert first.token(CREDENTIALS) == second.token(CREDENTIALS) == "token-1"
    # When both see token-1 rejected, one after the other
    assert first.renew(CREDENTIALS, rejected="token-1") == "token-2"
    assert second.renew(CREDENTIALS, rejected="token-1") == "token-2"
    # Then only one new token was asked for
    assert endpoint.issued == ["token-1", "token-2"]


def test_while_another_process_refreshes_a_still_valid_token_is_used_without_waiting(
    clock: ManualClock,
) -> None:
    endpoint = TokenEndpoint(clock)
    cache = MemoryTokenCache(clock)
    flow = TokenFlow(cache, endpoint, clock, refresh_margin=300)
    flow.token(CREDENTIALS)
    clock.advance(1600)  # inside the margin: due for refresh, still valid for 199 s
    assert cache.try_lock(CREDENTIALS.key, "other-process", 30)
    assert flow.token(CREDENTIALS) == "token-1"
    assert endpoint.issued == ["token-1"]


def test_a_refresh_held_too_long_by_another_process_gives_up_with_a_generic_error(clock: ManualClock) -> None:
    cache = MemoryTokenCache(clock)
    flow = TokenFlow(cache, TokenEndpoint(clock), clock, lock_ttl=30, wait_step=1)
    assert cache.try_lock(CREDENTIALS.key, "stuck-process", 600)  # far longer than a refresh takes
    with pytest.raises(ThirdPartyGenericError, match="gave up"):
        flow.token(CREDENTIALS)


def test_a_lock_left_by_a_dead_process_expires(clock: ManualClock) -> None:
    endpoint = TokenEndpoint(clock)
    cache = MemoryTokenCache(clock)
    flow = TokenFlow(cache, endpoint, clock, lock_ttl=30, wait_step=1)
    assert cache.try_lock(CREDENTIALS.key, "dead-process", 30)
    assert flow.token(CREDENTIALS) == "token-1"  # waited (on the manual clock) for the lock to lapse
    assert clock.now() > datetime(2024, 6, 1, 0, 0, 29, tzinfo=UTC)


def test_many_threads_needing_a_token_at_once_cause_one_token_request() -> None:
    from core.clock import SystemClock

    clock = SystemClock()
    calls: list[int] = []
    gate = threading.Event()

    def slow_endpoint(credentials: Credentials) -> AccessToken:
        calls.append(1)
        gate.wait(0.2)
        return AccessToken("shared", clock.now().timestamp() + 1799)

    flow = TokenFlow(MemoryTokenCache(clock), slow_endpoint, clock, wait_step=0.01)
    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(flow.token(CREDENTIALS))) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["shared"] * 16
    assert len(calls) == 1

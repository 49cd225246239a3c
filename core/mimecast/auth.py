"""The token flow: one cached token per credential pair, refreshed before expiry by one process at a time.

Mimecast API 2.0 uses OAuth2 client credentials; a token lives about 30 minutes and there is no
refresh token (spec 2.2). Every worker shares the cache (`core/store/tokens.py` in Redis; the
in-memory twin below for tests and the CLI). A refresh takes the credential's lock, looks again
(another process may have just refreshed), and only then asks Mimecast; the others keep using a
still-valid token or wait for the new one. On a 401 that says the token expired or failed
verification, `Session.call` refreshes once and retries the same request once.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Protocol

from core.clock import Clock
from core.errors import ThirdPartyGenericError, TokenRejected
from core.models import AccessToken, Credentials, JsonObject, Request

REFRESH_MARGIN_SECONDS = 300.0
LOCK_TTL_SECONDS = 30.0
WAIT_STEP_SECONDS = 0.05
# A token this close to expiry is not handed out even while another process refreshes.
LAST_USE_SECONDS = 10.0


class TokenCache(Protocol):
    """Where tokens live between calls and processes, keyed by `Credentials.key`."""

    def get(self, credential: str) -> AccessToken | None: ...

    def put(self, credential: str, token: AccessToken, ttl_seconds: float) -> None: ...

    def discard(self, credential: str, value: str) -> None:
        """Forget the token, but only if it is still `value` (a newer one stays)."""

    def try_lock(self, credential: str, owner: str, ttl_seconds: float) -> bool: ...

    def unlock(self, credential: str, owner: str) -> None: ...


class MemoryTokenCache:
    """The in-memory twin of the Redis token cache; safe across threads of one process."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._tokens: dict[str, AccessToken] = {}
        self._locks: dict[str, tuple[str, float]] = {}
        self._mutex = threading.Lock()

    def get(self, credential: str) -> AccessToken | None:
        with self._mutex:
            return self._tokens.get(credential)

    def put(self, credential: str, token: AccessToken, ttl_seconds: float) -> None:
        with self._mutex:
            self._tokens[credential] = token

    def discard(self, credential: str, value: str) -> None:
        with self._mutex:
            held = self._tokens.get(credential)
            if held is not None and held.value == value:
                del self._tokens[credential]

    def try_lock(self, credential: str, owner: str, ttl_seconds: float) -> bool:
        now = self._clock.now().timestamp()
        with self._mutex:
            held = self._locks.get(credential)
            if held is not None and held[1] > now:
                return False
            self._locks[credential] = (owner, now + ttl_seconds)
            return True

    def unlock(self, credential: str, owner: str) -> None:
        with self._mutex:
            held = self._locks.get(credential)
            if held is not None and held[0] == owner:
                del self._locks[credential]


class TokenFlow:
    """Hands out a valid bearer token for a credential pair, refreshing it at most once at a time."""

    def __init__(
        self,
        cache: TokenCache,
        request_token: Callable[[Credentials], AccessToken],
        clock: Clock,
        *,
        refresh_margin: float = REFRESH_MARGIN_SECONDS,
        lock_ttl: float = LOCK_TTL_SECONDS,
        wait_step: float = WAIT_STEP_SECONDS,
    ) -> None:
        self._cache = cache
        self._request_token = request_token
        self._clock = clock
        self._margin = refresh_margin
        self._lock_ttl = lock_ttl
        self._wait_step = wait_step

    def token(self, credentials: Credentials) -> str:
        """A token with more than the refresh margin left, refreshed first if needed."""
        cached = self._cache.get(credentials.key)
        if cached is not None and self._left(cached) > self._margin:
            return cached.value
        return self._refresh(credentials, rejected=None)

    def renew(self, credentials: Credentials, rejected: str) -> str:
        """A token other than `rejected`, which Mimecast has just refused."""
        self._cache.discard(credentials.key, rejected)
        return self._refresh(credentials, rejected=rejected)

    def _left(self, token: AccessToken) -> float:
        return token.expires_at - self._clock.now().timestamp()

    def _refresh(self, credentials: Credentials, rejected: str | None) -> str:
        owner = uuid.uuid4().hex
        give_up = self._clock.now().timestamp() + self._lock_ttl * 2
        while True:
            if self._cache.try_lock(credentials.key, owner, self._lock_ttl):
                try:
                    cached = self._cache.get(credentials.key)
                    if cached is not None and cached.value != rejected and self._left(cached) > self._margin:
                        return cached.value
                    fresh = self._request_token(credentials)
                    self._cache.put(credentials.key, fresh, max(self._left(fresh), 1.0))
                    return fresh.value
                finally:
                    self._cache.unlock(credentials.key, owner)
            cached = self._cache.get(credentials.key)
            if cached is not None and cached.value != rejected and self._left(cached) > LAST_USE_SECONDS:
                return cached.value
            if self._clock.now().timestamp() > give_up:
                raise ThirdPartyGenericError("gave up waiting for another worker's token refresh")
            self._clock.sleep(self._wait_step)


class ApiCaller(Protocol):
    def call(self, request: Request, token: str) -> JsonObject: ...


class Session:
    """Authorized calls for one credential pair: one refresh and one retry on a rejected token."""

    def __init__(self, caller: ApiCaller, flow: TokenFlow, credentials: Credentials) -> None:
        self._caller = caller
        self._flow = flow
        self.credentials = credentials

    def call(self, request: Request) -> JsonObject:
        token = self._flow.token(self.credentials)
        try:
            return self._caller.call(request, token)
        except TokenRejected:
            token = self._flow.renew(self.credentials, rejected=token)
            return self._caller.call(request, token)

"""The token cache in Redis, shared by every worker: one token per credential pair, one refresher.

The token is stored with a TTL that ends when Mimecast stops accepting it. The refresh lock is
`SET NX PX` with a random owner, released only by its owner (a Lua compare-and-delete), and
expires by itself if its holder dies.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import redis

from core.errors import FirstPartyGenericError
from core.models import AccessToken
from core.store import keys

# Delete the key only if it still holds the expected value.
_COMPARE_AND_DELETE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""
_DISCARD_IF_HELD = """
local held = redis.call('GET', KEYS[1])
if held and cjson.decode(held)['value'] == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


@contextmanager
def _redis(what: str) -> Iterator[None]:
    """Where redis exceptions become ours: trouble on our side."""
    try:
        yield
    except redis.RedisError as exc:
        raise FirstPartyGenericError(f"Redis {what} failed: {type(exc).__name__}") from exc


class RedisTokenCache:
    """A TokenCache (see `core.mimecast.auth`) backed by Redis."""

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._unlock: Callable[..., Any] = client.register_script(_COMPARE_AND_DELETE)
        self._discard: Callable[..., Any] = client.register_script(_DISCARD_IF_HELD)

    def get(self, credential: str) -> AccessToken | None:
        with _redis("token read"):
            raw = self._redis.get(keys.token(credential))
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            return AccessToken(value=str(data["value"]), expires_at=float(data["expiresAt"]))
        except (ValueError, KeyError, TypeError):
            return None  # an unreadable entry is as good as none: a refresh replaces it

    def put(self, credential: str, token: AccessToken, ttl_seconds: float) -> None:
        payload = json.dumps({"value": token.value, "expiresAt": token.expires_at})
        with _redis("token write"):
            self._redis.set(keys.token(credential), payload, px=max(int(ttl_seconds * 1000), 1))

    def discard(self, credential: str, value: str) -> None:
        with _redis("token discard"):
            self._discard(keys=[keys.token(credential)], args=[value])

    def try_lock(self, credential: str, owner: str, ttl_seconds: float) -> bool:
        with _redis("token lock"):
            taken = self._redis.set(
                keys.token_lock(credential), owner, nx=True, px=max(int(ttl_seconds * 1000), 1)
            )
        return bool(taken)

    def unlock(self, credential: str, owner: str) -> None:
        with _redis("token unlock"):
            self._unlock(keys=[keys.token_lock(credential)], args=[owner])

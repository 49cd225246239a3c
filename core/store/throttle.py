"""One rate-limit pause per Mimecast application and endpoint, shared by every source and unit.

Mimecast's quotas are per application (client id). When one call gets a 429 with a reset time, no
unit of any source using that client id calls the same endpoint before the reset: each finds the
pause here and waits for it, instead of spending calls against a quota already spent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis

from core.models import digest
from core.store import keys
from core.store.coordination import redis_failures

# KEYS: the pause. ARGV: until (s), ttl (ms). A later reset wins; an earlier one never shortens it.
_PAUSE = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > current then
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
return 1
"""


class Throttle:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._pause: Callable[..., Any] = client.register_script(_PAUSE)

    def pause(self, client_id: str, endpoint: str, until: float, now: float) -> None:
        """No call from `client_id` to `endpoint` before `until`."""
        ttl_ms = max(int((until - now) * 1000), 1)
        with redis_failures("throttle write"):
            self._pause(keys=[_key(client_id, endpoint)], args=[until, ttl_ms])

    def paused_until(self, client_id: str, endpoint: str, now: float) -> float | None:
        """When `client_id` may call `endpoint` again, if that is still ahead of `now`."""
        with redis_failures("throttle read"):
            value = self._redis.get(_key(client_id, endpoint))
        if value is None:
            return None
        until = float(value)
        return until if until > now else None


def _key(client_id: str, endpoint: str) -> str:
    return keys.throttle(digest(client_id), digest(endpoint))

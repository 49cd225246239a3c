"""One rate budget per Mimecast application and endpoint, shared by every source and unit.

Mimecast's quotas are per application (client id). Two things are kept per client id + endpoint:
- the pause after a 429: no unit of any source using that client id calls the same endpoint before
  the reset; each finds the pause here and waits for it instead of spending calls against a quota
  already spent;
- the budget the last answer stated (`X-RateLimit-Remaining` and `-Reset`), which paces calls
  before a 429 comes (`core/mimecast/pacing.py` decides, `core/mimecast/paced.py` asks).
Both are keyed by digests: no client id is stored in a key name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import redis

from core.mimecast.pacing import Budget, Reading
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

# KEYS: the budget hash. ARGV: expected version, remaining, limit ('' if unknown), reset_at,
# seen_at, expire-at (ms), endpoint, app. Writes only if the version is still the expected one.
_SWAP = """
local version = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if version ~= tonumber(ARGV[1]) then
    return 0
end
redis.call('HSET', KEYS[1], 'version', version + 1, 'remaining', ARGV[2], 'limit', ARGV[3],
    'reset_at', ARGV[4], 'seen_at', ARGV[5], 'endpoint', ARGV[7], 'app', ARGV[8])
redis.call('PEXPIREAT', KEYS[1], ARGV[6])
return 1
"""

# A budget is kept this long past its reset, so a late answer still finds its version.
KEEP_AFTER_RESET_SECONDS = 60.0


@dataclass(frozen=True)
class Listed:
    """One stored budget, as `/metrics` shows it: the endpoint and a short digest of the client id."""

    app: str
    endpoint: str
    budget: Budget


class Throttle:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._pause: Callable[..., Any] = client.register_script(_PAUSE)
        self._swap: Callable[..., Any] = client.register_script(_SWAP)

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

    def reading(self, client_id: str, endpoint: str) -> Reading:
        """The budget, its version and the pause of `client_id` on `endpoint`, in one round trip."""
        with redis_failures("rate budget read"):
            pipe = self._redis.pipeline(transaction=False)
            pipe.hgetall(_budget_key(client_id, endpoint))
            pipe.get(_key(client_id, endpoint))
            stored, paused = pipe.execute()
        fields = {name.decode(): value.decode() for name, value in stored.items()}
        return Reading(
            _budget(fields), int(fields.get("version", "0")), float(paused) if paused is not None else None
        )

    def swap(self, client_id: str, endpoint: str, version: int, budget: Budget) -> bool:
        """Store `budget` if the stored version is still `version`; False (nothing written) if not."""
        expire_ms = int((budget.reset_at + KEEP_AFTER_RESET_SECONDS) * 1000)
        args = [
            version,
            budget.remaining,
            "" if budget.limit is None else budget.limit,
            repr(budget.reset_at),
            repr(budget.seen_at),
            expire_ms,
            endpoint,
            app_label(client_id),
        ]
        with redis_failures("rate budget write"):
            return bool(self._swap(keys=[_budget_key(client_id, endpoint)], args=args))

    def budgets(self) -> Iterator[Listed]:
        """Every budget still kept, for `/metrics`."""
        with redis_failures("rate budget scan"):
            for key in self._redis.scan_iter(match=keys.rate_budget_pattern(), count=500):
                stored: dict[bytes, bytes] = self._redis.hgetall(key)  # type: ignore[assignment]
                fields = {name.decode(): value.decode() for name, value in stored.items()}
                budget = _budget(fields)
                if budget is not None:
                    yield Listed(fields.get("app", ""), fields.get("endpoint", ""), budget)


def app_label(client_id: str) -> str:
    """A short digest of a client id: tells applications apart in `/metrics` without naming one."""
    return digest(client_id)[:8]


def _budget(fields: dict[str, str]) -> Budget | None:
    try:
        return Budget(
            remaining=int(fields["remaining"]),
            reset_at=float(fields["reset_at"]),
            seen_at=float(fields["seen_at"]),
            limit=int(fields["limit"]) if fields.get("limit") else None,
        )
    except (KeyError, ValueError):
        return None


def _key(client_id: str, endpoint: str) -> str:
    return keys.throttle(digest(client_id), digest(endpoint))


def _budget_key(client_id: str, endpoint: str) -> str:
    return keys.rate_budget(digest(client_id), digest(endpoint))

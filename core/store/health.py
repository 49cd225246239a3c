"""Health events in Redis: open events indexed for listing, a bounded log per source.

Opening and resolving are each one script, and both refuse to write for a source that is gone, so
a late event cannot leave keys behind a deleted source.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

import redis

from core.lifecycle.health import HealthEvent
from core.store import keys
from core.store.codec import dumps, text
from core.store.coordination import redis_failures

# KEYS: source, its open-event index, open events, open event bodies, its event log.
# ARGV: event name, event id, event JSON, score (ms), log limit.
_OPEN = """
if redis.call('EXISTS', KEYS[1]) == 0 then
    return 0
end
local known = redis.call('HGET', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[2])
redis.call('HSET', KEYS[4], ARGV[2], ARGV[3])
if not known then
    redis.call('LPUSH', KEYS[5], ARGV[3])
    redis.call('LTRIM', KEYS[5], 0, tonumber(ARGV[5]) - 1)
end
return 1
"""
# KEYS: source, its open-event index, open events, open event bodies, its event log.
# ARGV: the Healthy event JSON, log limit.
_RESOLVE = """
if redis.call('EXISTS', KEYS[1]) == 0 then
    return 0
end
local ids = redis.call('HVALS', KEYS[2])
if #ids == 0 then
    return 0
end
for _, id in ipairs(ids) do
    redis.call('ZREM', KEYS[3], id)
    redis.call('HDEL', KEYS[4], id)
end
redis.call('DEL', KEYS[2])
redis.call('LPUSH', KEYS[5], ARGV[1])
redis.call('LTRIM', KEYS[5], 0, tonumber(ARGV[2]) - 1)
return #ids
"""


class HealthStore:
    def __init__(self, client: redis.Redis, log_limit: int = 100) -> None:
        self._redis = client
        self._log_limit = log_limit
        self._open: Callable[..., Any] = client.register_script(_OPEN)
        self._resolve: Callable[..., Any] = client.register_script(_RESOLVE)

    def _keys(self, source_id: str) -> list[str]:
        return [
            keys.source(source_id),
            keys.source_open_events(source_id),
            keys.open_events(),
            keys.open_event_bodies(),
            keys.source_event_log(source_id),
        ]

    def open_events_of(self, source_id: str) -> dict[str, HealthEvent]:
        """The source's unresolved events by event name."""
        with redis_failures("health read"):
            index = {
                text(k): text(v) for k, v in self._redis.hgetall(keys.source_open_events(source_id)).items()
            }
            if not index:
                return {}
            bodies = self._redis.hmget(keys.open_event_bodies(), list(index.values()))
        found = {}
        for name, body in zip(index, bodies, strict=True):
            if body is not None:
                found[name] = HealthEvent.from_json(json.loads(text(body)))
        return found

    def open(self, event: HealthEvent) -> bool:
        """Record an open event (new, or a refresh of the open one with the same id)."""
        with redis_failures("health write"):
            return bool(
                self._open(
                    keys=self._keys(event.resource.id),
                    args=[
                        event.event_name,
                        event.event_id,
                        dumps(event.to_json()),
                        int(event.time.timestamp() * 1000),
                        self._log_limit,
                    ],
                )
            )

    def resolve(self, healthy: HealthEvent) -> int:
        """Close every open event of the source with `healthy`; how many were open."""
        with redis_failures("health write"):
            return int(
                self._resolve(
                    keys=self._keys(healthy.resource.id), args=[dumps(healthy.to_json()), self._log_limit]
                )
            )

    def unresolved(self, offset: int, limit: int) -> tuple[list[dict[str, Any]], bool]:
        """Open events, newest first, and whether more follow."""
        with redis_failures("health listing"):
            found = self._redis.zrevrange(keys.open_events(), offset, offset + limit)
            ids = [text(item) for item in found if isinstance(item, bytes | str)]
            more = len(ids) > limit
            ids = ids[:limit]
            bodies = self._redis.hmget(keys.open_event_bodies(), ids) if ids else []
        return [json.loads(text(body)) for body in bodies if body is not None], more

    def log_of(self, source_ids: Iterable[str], limit: int) -> list[dict[str, Any]]:
        """The recent events (open and resolving) of the given sources, newest first."""
        events: list[dict[str, Any]] = []
        with redis_failures("health listing"):
            for source_id in source_ids:
                events.extend(
                    json.loads(text(item))
                    for item in self._redis.lrange(keys.source_event_log(source_id), 0, limit - 1)
                )
        events.sort(key=lambda event: str(event.get("eventTime", "")), reverse=True)
        return events[:limit]

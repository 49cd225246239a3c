"""Failure streaks, one per unit of a source, so one unit's success does not end another's window.

Every key lives under the source (`keys.source_pattern`), so removing the source removes them.
"""

from __future__ import annotations

import json

import redis

from core.lifecycle.retry import FailureStreak
from core.store import keys
from core.store.codec import dumps, text
from core.store.coordination import redis_failures


class Streaks:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def get(self, source_id: str, unit: str) -> FailureStreak:
        with redis_failures("failure read"):
            raw = self._redis.hget(keys.source_failures(source_id), unit)
        if raw is None:
            return FailureStreak()
        data = json.loads(text(raw))
        first = data.get("first")
        return FailureStreak(float(first) if first is not None else None, int(data.get("attempts", 0)))

    def put(self, source_id: str, unit: str, streak: FailureStreak) -> None:
        payload = dumps({"first": streak.first_at, "attempts": streak.attempts})
        with redis_failures("failure write"):
            self._redis.hset(keys.source_failures(source_id), unit, payload)

    def clear(self, source_id: str, unit: str) -> int:
        """Forget the unit's streak; how many units of the source are still failing."""
        with redis_failures("failure write"):
            pipe = self._redis.pipeline(transaction=True)
            pipe.hdel(keys.source_failures(source_id), unit)
            pipe.hlen(keys.source_failures(source_id))
            _, left = pipe.execute()
        return int(left)

    def clear_all(self, source_id: str) -> None:
        """A new generation starts clean."""
        with redis_failures("failure reset"):
            self._redis.delete(keys.source_failures(source_id))

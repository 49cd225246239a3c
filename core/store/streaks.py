"""Failure streaks, one per unit of a source, so one unit's success does not end another's window,
with what the source shows of each failure (`core.lifecycle.failures.Failing`): which collection
is in error, with what, and whether it stopped.

Every key lives under the source (`keys.source_pattern`), so removing the source removes them.
"""

from __future__ import annotations

import json

import redis

from core.lifecycle.failures import Failing
from core.lifecycle.retry import FailureStreak
from core.store import keys
from core.store.codec import dumps, text
from core.store.coordination import redis_failures


class Streaks:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def get(self, source_id: str, unit: str) -> tuple[FailureStreak, Failing | None]:
        """The unit's streak, and what the source shows of it (None: nothing failing, or nothing shown)."""
        with redis_failures("failure read"):
            raw = self._redis.hget(keys.source_failures(source_id), unit)
        if raw is None:
            return FailureStreak(), None
        data = json.loads(text(raw))
        first = data.get("first")
        shown = data.get("failing")
        streak = FailureStreak(float(first) if first is not None else None, int(data.get("attempts", 0)))
        return streak, Failing.from_json(shown) if isinstance(shown, dict) else None

    def put(self, source_id: str, unit: str, streak: FailureStreak, failing: Failing | None = None) -> None:
        """Keep the unit's streak, and what the source shows of it (None: nothing, e.g. throttling)."""
        record: dict[str, object] = {"first": streak.first_at, "attempts": streak.attempts}
        if failing is not None:
            record["failing"] = failing.to_json()
        with redis_failures("failure write"):
            self._redis.hset(keys.source_failures(source_id), unit, dumps(record))

    def failing(self, source_id: str) -> list[Failing]:
        """What every unit of the source in error shows."""
        with redis_failures("failure read"):
            found = self._redis.hvals(keys.source_failures(source_id))
        return _failing(found)

    def clear(self, source_id: str, unit: str) -> tuple[bool, list[Failing]]:
        """Forget the unit's streak (it delivered): whether it had one, and what the units of the
        source still in error show."""
        with redis_failures("failure write"):
            pipe = self._redis.pipeline(transaction=True)
            pipe.hdel(keys.source_failures(source_id), unit)
            pipe.hvals(keys.source_failures(source_id))
            removed, left = pipe.execute()
        return bool(removed), _failing(left)

    def clear_all(self, source_id: str) -> None:
        """A new generation starts clean."""
        with redis_failures("failure reset"):
            self._redis.delete(keys.source_failures(source_id))


def _failing(values: list[bytes | str]) -> list[Failing]:
    found: list[Failing] = []
    for raw in values:
        shown = json.loads(text(raw)).get("failing")
        if isinstance(shown, dict):
            found.append(Failing.from_json(shown))
    return found

"""What collection keeps per source in Redis besides checkpoints: halts, failure streaks, quarantine.

Every key lives under the source (`keys.source_pattern`), so removing the source removes them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import redis

from core.lifecycle.retry import FailureStreak
from core.store import keys
from core.store.codec import dumps, text
from core.store.streams import redis_failures


class CollectionState:
    def __init__(self, client: redis.Redis, quarantine_limit: int = 1000) -> None:
        self._redis = client
        self._quarantine_limit = quarantine_limit

    # Halts: a generation in which no stream of the source may call Mimecast.
    def halt(self, source_id: str, generation: int) -> None:
        with redis_failures("halt"):
            self._redis.set(keys.source_halted(source_id), generation)

    def halted(self, source_id: str) -> int | None:
        with redis_failures("halt read"):
            value = self._redis.get(keys.source_halted(source_id))
        return int(text(value)) if value is not None else None

    # Failure streaks, one per stream, so one stream's success does not end another's window.
    def streak(self, source_id: str, stream: str) -> FailureStreak:
        with redis_failures("failure read"):
            raw = self._redis.hget(keys.source_failures(source_id), stream)
        if raw is None:
            return FailureStreak()
        data = json.loads(text(raw))
        first = data.get("first")
        return FailureStreak(float(first) if first is not None else None, int(data.get("attempts", 0)))

    def set_streak(self, source_id: str, stream: str, streak: FailureStreak) -> None:
        payload = dumps({"first": streak.first_at, "attempts": streak.attempts})
        with redis_failures("failure write"):
            self._redis.hset(keys.source_failures(source_id), stream, payload)

    def clear_streak(self, source_id: str, stream: str) -> int:
        """Forget the stream's streak; how many streams of the source are still failing."""
        with redis_failures("failure write"):
            pipe = self._redis.pipeline(transaction=True)
            pipe.hdel(keys.source_failures(source_id), stream)
            pipe.hlen(keys.source_failures(source_id))
            _, left = pipe.execute()
        return int(left)

    def clear_all(self, source_id: str) -> None:
        """A new generation starts clean: no halt, no streaks."""
        with redis_failures("failure reset"):
            self._redis.delete(keys.source_failures(source_id), keys.source_halted(source_id))

    # Quarantine: bounded, newest first, with a total of everything ever quarantined.
    def quarantine(self, source_id: str, entries: Sequence[Mapping[str, Any]]) -> None:
        if not entries:
            return
        with redis_failures("quarantine write"):
            pipe = self._redis.pipeline(transaction=True)
            pipe.lpush(keys.source_quarantine(source_id), *(dumps(dict(entry)) for entry in entries))
            pipe.ltrim(keys.source_quarantine(source_id), 0, self._quarantine_limit - 1)
            pipe.incrby(keys.source_quarantine_total(source_id), len(entries))
            pipe.execute()

    def quarantined(self, source_id: str, offset: int, limit: int) -> tuple[list[dict[str, Any]], int]:
        """Kept entries, newest first, and how many were ever quarantined."""
        with redis_failures("quarantine read"):
            raw = self._redis.lrange(keys.source_quarantine(source_id), offset, offset + limit - 1)
            total = self._redis.get(keys.source_quarantine_total(source_id))
        return [json.loads(text(item)) for item in raw], int(text(total)) if total is not None else 0

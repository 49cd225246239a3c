"""Quarantine: lines that could not be read and messages a rule withheld, bounded, newest first,
with a total of everything ever quarantined. Kept under the source (`keys.source_pattern`)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import redis

from core.store import keys
from core.store.codec import dumps, text
from core.store.coordination import redis_failures


class Quarantine:
    def __init__(self, client: redis.Redis, limit: int = 1000) -> None:
        self._redis = client
        self._limit = limit

    def add(self, source_id: str, entries: Sequence[Mapping[str, Any]]) -> None:
        if not entries:
            return
        with redis_failures("quarantine write"):
            pipe = self._redis.pipeline(transaction=True)
            pipe.lpush(keys.source_quarantine(source_id), *(dumps(dict(entry)) for entry in entries))
            pipe.ltrim(keys.source_quarantine(source_id), 0, self._limit - 1)
            pipe.incrby(keys.source_quarantine_total(source_id), len(entries))
            pipe.execute()

    def page(self, source_id: str, offset: int, limit: int) -> tuple[list[dict[str, Any]], int]:
        """Kept entries, newest first, and how many were ever quarantined."""
        with redis_failures("quarantine read"):
            raw = self._redis.lrange(keys.source_quarantine(source_id), offset, offset + limit - 1)
            total = self._redis.get(keys.source_quarantine_total(source_id))
        return [json.loads(text(item)) for item in raw], int(text(total)) if total is not None else 0

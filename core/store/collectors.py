"""Hosted collectors in Redis: names unique (case-insensitive), every write one Lua script.

Deleting a collector is two steps: `mark_deleting` takes it out of sight at once (listing, name,
new sources) and returns its sources for stopping; `remove` deletes it once its last source is gone.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis

from core.models import CollectorConfig
from core.store import keys
from core.store.codec import dumps, fold, text
from core.store.coordination import redis_failures
from core.store.outcomes import NameTaken, NotFound, StaleVersion
from core.store.sources import new_id

# KEYS: names, collector, collectors, sequence. ARGV: folded name, id, config, created.
_CREATE = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then
    return 0
end
local seq = redis.call('INCR', KEYS[4])
redis.call('HSET', KEYS[2], 'config', ARGV[3], 'version', 1, 'deleting', '0', 'name', ARGV[1],
    'created', ARGV[4])
redis.call('ZADD', KEYS[3], seq, ARGV[2])
return 1
"""
# KEYS: names, collector. ARGV: expected version ('' = any), folded name, config, id.
_UPDATE = """
if redis.call('EXISTS', KEYS[2]) == 0 or redis.call('HGET', KEYS[2], 'deleting') == '1' then
    return -1
end
local version = tonumber(redis.call('HGET', KEYS[2], 'version'))
if ARGV[1] ~= '' and tonumber(ARGV[1]) ~= version then
    return -2
end
local old = redis.call('HGET', KEYS[2], 'name')
if old ~= ARGV[2] then
    if redis.call('HSETNX', KEYS[1], ARGV[2], ARGV[4]) == 0 then
        return 0
    end
    if redis.call('HGET', KEYS[1], old) == ARGV[4] then
        redis.call('HDEL', KEYS[1], old)
    end
end
redis.call('HSET', KEYS[2], 'config', ARGV[3], 'version', version + 1, 'name', ARGV[2])
return version + 1
"""
# KEYS: names, collector, collectors, its sources. ARGV: id. Returns its source ids.
_MARK_DELETING = """
if redis.call('EXISTS', KEYS[2]) == 0 or redis.call('HGET', KEYS[2], 'deleting') == '1' then
    return false
end
redis.call('HSET', KEYS[2], 'deleting', '1')
local name = redis.call('HGET', KEYS[2], 'name')
if redis.call('HGET', KEYS[1], name) == ARGV[1] then
    redis.call('HDEL', KEYS[1], name)
end
redis.call('ZREM', KEYS[3], ARGV[1])
return redis.call('ZRANGE', KEYS[4], 0, -1)
"""
# KEYS: collector, its sources, its source names.
_REMOVE = """
if redis.call('HGET', KEYS[1], 'deleting') ~= '1' then
    return 1
end
if redis.call('ZCARD', KEYS[2]) > 0 then
    return 0
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
return 1
"""


@dataclass(frozen=True)
class StoredCollector:
    id: str
    config: CollectorConfig
    version: int
    created: str


class CollectorStore:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._create: Callable[..., Any] = client.register_script(_CREATE)
        self._update: Callable[..., Any] = client.register_script(_UPDATE)
        self._mark: Callable[..., Any] = client.register_script(_MARK_DELETING)
        self._remove: Callable[..., Any] = client.register_script(_REMOVE)

    def create(self, config: CollectorConfig, now: datetime) -> StoredCollector:
        collector_id = new_id()
        created = now.isoformat()
        with redis_failures("collector create"):
            result = int(
                self._create(
                    keys=[
                        keys.collector_names(),
                        keys.collector(collector_id),
                        keys.collectors(),
                        keys.sequence(),
                    ],
                    args=[fold(config.name), collector_id, dumps(config.to_json()), created],
                )
            )
        if result == 0:
            raise NameTaken(f"a collector named {config.name!r} already exists")
        return StoredCollector(collector_id, config, 1, created)

    def get(self, collector_id: str) -> StoredCollector:
        """The collector; NotFound when unknown or being deleted."""
        with redis_failures("collector read"):
            raw = self._redis.hgetall(keys.collector(collector_id))
        fields = {text(key): text(value) for key, value in raw.items()}
        if not fields or fields.get("deleting") == "1":
            raise NotFound(f"collector {collector_id} not found")
        return StoredCollector(
            id=collector_id,
            config=CollectorConfig.from_json(json.loads(fields["config"])),
            version=int(fields["version"]),
            created=fields.get("created", ""),
        )

    def page(self, offset: int = 0, limit: int = 1000) -> list[StoredCollector]:
        with redis_failures("collector listing"):
            found = self._redis.zrange(keys.collectors(), offset, offset + limit - 1)
        listed = []
        for item in found:
            if not isinstance(item, bytes | str):
                continue
            try:
                listed.append(self.get(text(item)))
            except NotFound:
                continue
        return listed

    def update(
        self, collector_id: str, config: CollectorConfig, *, expected_version: int | None
    ) -> StoredCollector:
        with redis_failures("collector update"):
            result = int(
                self._update(
                    keys=[keys.collector_names(), keys.collector(collector_id)],
                    args=[
                        "" if expected_version is None else expected_version,
                        fold(config.name),
                        dumps(config.to_json()),
                        collector_id,
                    ],
                )
            )
        if result == -1:
            raise NotFound(f"collector {collector_id} not found")
        if result == -2:
            raise StaleVersion(f"collector {collector_id} changed since that ETag was read")
        if result == 0:
            raise NameTaken(f"a collector named {config.name!r} already exists")
        return self.get(collector_id)

    def mark_deleting(self, collector_id: str) -> list[str]:
        """Hide the collector and free its name; the ids of the sources to stop. NotFound if gone."""
        with redis_failures("collector delete"):
            found = self._mark(
                keys=[
                    keys.collector_names(),
                    keys.collector(collector_id),
                    keys.collectors(),
                    keys.collector_sources(collector_id),
                ],
                args=[collector_id],
            )
        if found is None:
            raise NotFound(f"collector {collector_id} not found")
        return [text(item) for item in found]

    def remove(self, collector_id: str) -> bool:
        """Delete a collector marked for deletion once it has no source left; False while it has.

        True as well when there is nothing to wait for (gone, or not marked for deletion).
        """
        with redis_failures("collector removal"):
            return bool(
                self._remove(
                    keys=[
                        keys.collector(collector_id),
                        keys.collector_sources(collector_id),
                        keys.collector_source_names(collector_id),
                    ]
                )
            )

    def exists(self, collector_id: str) -> bool:
        """Known and not being deleted."""
        try:
            self.get(collector_id)
        except NotFound:
            return False
        return True

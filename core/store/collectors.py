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
from core.store import keys, listing
from core.store.codec import dumps, fold, text
from core.store.coordination import redis_failures
from core.store.outcomes import NameTaken, NotFound, StaleVersion, UnknownReference
from core.store.sources import new_id

# Each destination a collector names must exist when it is stored (KEYS[last]: destination names;
# ARGV from `first`: the folded names); a destination is deleted only while no collector names it.
_DESTINATIONS_EXIST = """
local function destinations_exist(names_key, first)
    for i = first, #ARGV do
        if redis.call('HEXISTS', names_key, ARGV[i]) == 0 then
            return ARGV[i]
        end
    end
    return nil
end
"""
# KEYS: names, collector, collectors, sequence, destination names. ARGV: folded name, id, config,
# created, folded destination names...
_CREATE = (
    _DESTINATIONS_EXIST
    + """
local missing = destinations_exist(KEYS[5], 5)
if missing then
    return {-3, missing}
end
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then
    return 0
end
local seq = redis.call('INCR', KEYS[4])
redis.call('HSET', KEYS[2], 'config', ARGV[3], 'version', 1, 'deleting', '0', 'name', ARGV[1],
    'created', ARGV[4])
redis.call('ZADD', KEYS[3], seq, ARGV[2])
return 1
"""
)
# KEYS: names, collector, destination names. ARGV: expected version ('' = any), folded name, config,
# id, folded destination names...
_UPDATE = (
    _DESTINATIONS_EXIST
    + """
if redis.call('EXISTS', KEYS[2]) == 0 or redis.call('HGET', KEYS[2], 'deleting') == '1' then
    return -1
end
local missing = destinations_exist(KEYS[3], 5)
if missing then
    return {-3, missing}
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
)
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
            result = _outcome(
                self._create(
                    keys=[
                        keys.collector_names(),
                        keys.collector(collector_id),
                        keys.collectors(),
                        keys.sequence(),
                        keys.destination_names(),
                    ],
                    args=[
                        fold(config.name),
                        collector_id,
                        dumps(config.to_json()),
                        created,
                        *(fold(name) for name in config.destinations),
                    ],
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
        found = listing.ids_in(self._redis, keys.collectors(), offset, limit, "collector listing")
        return listing.still_there(found, self.get)

    def update(
        self, collector_id: str, config: CollectorConfig, *, expected_version: int | None
    ) -> StoredCollector:
        with redis_failures("collector update"):
            result = _outcome(
                self._update(
                    keys=[keys.collector_names(), keys.collector(collector_id), keys.destination_names()],
                    args=[
                        "" if expected_version is None else expected_version,
                        fold(config.name),
                        dumps(config.to_json()),
                        collector_id,
                        *(fold(name) for name in config.destinations),
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

    def destinations_of(self, collector_id: str) -> tuple[str, ...]:
        """The destination names a collector routes to, also while it is being deleted (its sources
        finish their batches); () for the deployment default. NotFound once it is gone."""
        with redis_failures("collector read"):
            raw = self._redis.hget(keys.collector(collector_id), "config")
        if raw is None:
            raise NotFound(f"collector {collector_id} not found")
        return CollectorConfig.from_json(json.loads(text(raw))).destinations

    def routing_to(self, destination_name: str) -> list[StoredCollector]:
        """The collectors that route to a destination (by name, case-insensitive)."""
        wanted = fold(destination_name)
        return [
            found
            for found in self.page(0, 1_000_000)
            if any(fold(name) == wanted for name in found.config.destinations)
        ]


def _outcome(result: Any) -> int:
    """A script's number, or UnknownReference for `{-3, missing destination}`."""
    if isinstance(result, list):
        raise UnknownReference(f"collector.destinations: no destination named {text(result[1])!r}")
    return int(result)

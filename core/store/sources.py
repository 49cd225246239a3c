"""Sources in Redis: config, encrypted secret, state and history, each write one Lua script.

Every write is all or nothing: the name claim (unique per collector, case-insensitive), the config,
the secret, the state and its history entry go in together or not at all. State changes are
compare-and-set on the source's `epoch`, so the pure transition table (`core.lifecycle.states`)
decides on what is really stored. Removal takes everything kept under the source and its streams.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import redis

from core.lifecycle.states import (
    HistoryEntry,
    SourceStatus,
    State,
    StateError,
    move,
    status_from_json,
    status_to_json,
)
from core.models import SourceConfig
from core.store import keys, listing
from core.store.codec import dumps, fold, text
from core.store.coordination import redis_failures
from core.store.outcomes import Busy, NameTaken, NotFound, StaleVersion
from core.store.secrets import SecretBox

# KEYS: collector, names, collector sources, all sources, source, secret, history, sequence.
# ARGV: folded name, source id, collector id, config, secret token, state, history entry, epoch.
_CREATE = """
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('HGET', KEYS[1], 'deleting') == '1' then
    return -1
end
if redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2]) == 0 then
    return 0
end
local seq = redis.call('INCR', KEYS[8])
redis.call('HSET', KEYS[5], 'collector', ARGV[3], 'config', ARGV[4], 'version', 1, 'name', ARGV[1],
    'state', ARGV[6], 'epoch', ARGV[8])
redis.call('SET', KEYS[6], ARGV[5])
redis.call('LPUSH', KEYS[7], ARGV[7])
redis.call('ZADD', KEYS[3], seq, ARGV[2])
redis.call('ZADD', KEYS[4], seq, ARGV[2])
return 1
"""
# KEYS: source, names, secret, history. ARGV: expected version ('' = any), expected epoch,
# folded name, config, secret token ('' = keep), state, history entry, history limit, new epoch, id.
_UPDATE = """
if redis.call('EXISTS', KEYS[1]) == 0 then
    return -1
end
local version = tonumber(redis.call('HGET', KEYS[1], 'version'))
if ARGV[1] ~= '' and tonumber(ARGV[1]) ~= version then
    return -2
end
if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[2] then
    return -3
end
local old = redis.call('HGET', KEYS[1], 'name')
if old ~= ARGV[3] then
    if redis.call('HSETNX', KEYS[2], ARGV[3], ARGV[10]) == 0 then
        return 0
    end
    if redis.call('HGET', KEYS[2], old) == ARGV[10] then
        redis.call('HDEL', KEYS[2], old)
    end
end
redis.call('HSET', KEYS[1], 'config', ARGV[4], 'version', version + 1, 'name', ARGV[3],
    'state', ARGV[6], 'epoch', ARGV[9])
if ARGV[5] ~= '' then
    redis.call('SET', KEYS[3], ARGV[5])
end
redis.call('LPUSH', KEYS[4], ARGV[7])
redis.call('LTRIM', KEYS[4], 0, tonumber(ARGV[8]) - 1)
return version + 1
"""
# KEYS: source, history, names. ARGV: expected epoch, state, history entry, limit, new epoch,
# '1' to release the name (entering Stopping), source id.
_TRANSITION = """
if redis.call('EXISTS', KEYS[1]) == 0 then
    return -1
end
if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[1] then
    return 0
end
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'epoch', ARGV[5])
redis.call('LPUSH', KEYS[2], ARGV[3])
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[4]) - 1)
if ARGV[6] == '1' then
    local name = redis.call('HGET', KEYS[1], 'name')
    if name and redis.call('HGET', KEYS[3], name) == ARGV[7] then
        redis.call('HDEL', KEYS[3], name)
    end
end
return 1
"""
# KEYS: source, in-flight, collector sources, all sources, open events, open event bodies,
# the source's open-event index, due set, then every other key to delete.
# ARGV: source id, now (ms), then the due-set members of its streams.
_REMOVE = """
if redis.call('EXISTS', KEYS[1]) == 0 then
    return 0
end
if cjson.decode(redis.call('HGET', KEYS[1], 'state'))['state'] ~= 'Stopping' then
    return -1
end
if redis.call('ZCOUNT', KEYS[2], '(' .. ARGV[2], '+inf') > 0 then
    return -2
end
for _, id in ipairs(redis.call('HVALS', KEYS[7])) do
    redis.call('ZREM', KEYS[5], id)
    redis.call('HDEL', KEYS[6], id)
end
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
for i = 3, #ARGV do
    redis.call('ZREM', KEYS[8], ARGV[i])
end
for i = 9, #KEYS do
    redis.call('DEL', KEYS[i])
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[7])
return 1
"""
_CAS_ATTEMPTS = 20


@dataclass(frozen=True)
class StoredSource:
    id: str
    collector_id: str
    config: SourceConfig
    version: int
    status: SourceStatus


def new_id() -> str:
    """An opaque id: 16 hex digits (never a glob character, so key patterns stay exact)."""
    return secrets.token_hex(8)


class SourceStore:
    """Sources of every collector; the secret box encrypts on the way in and decrypts for the worker."""

    def __init__(self, client: redis.Redis, box: SecretBox, history_limit: int = 50) -> None:
        self._redis = client
        self._box = box
        self._history_limit = history_limit
        self._create: Callable[..., Any] = client.register_script(_CREATE)
        self._update: Callable[..., Any] = client.register_script(_UPDATE)
        self._transition: Callable[..., Any] = client.register_script(_TRANSITION)
        self._remove: Callable[..., Any] = client.register_script(_REMOVE)

    def create(self, collector_id: str, config: SourceConfig, secret: str, now: datetime) -> StoredSource:
        """Store a validated source as `Pending`; NameTaken or NotFound (no such collector) otherwise."""
        source_id = new_id()
        status = SourceStatus(state=State.PENDING, since=now)
        entry = HistoryEntry(state=State.PENDING, time=now, reason="created")
        with redis_failures("source create"):
            result = int(
                self._create(
                    keys=[
                        keys.collector(collector_id),
                        keys.collector_source_names(collector_id),
                        keys.collector_sources(collector_id),
                        keys.sources(),
                        keys.source(source_id),
                        keys.source_secret(source_id),
                        keys.source_history(source_id),
                        keys.sequence(),
                    ],
                    args=[
                        fold(config.name),
                        source_id,
                        collector_id,
                        dumps(config.to_json()),
                        self._box.encrypt(secret),
                        dumps(status_to_json(status)),
                        dumps(entry.to_json()),
                        status.epoch,
                    ],
                )
            )
        if result == -1:
            raise NotFound(f"collector {collector_id} not found")
        if result == 0:
            raise NameTaken(f"a source named {config.name!r} already exists in this collector")
        return StoredSource(source_id, collector_id, config, 1, status)

    def get(self, source_id: str) -> StoredSource:
        with redis_failures("source read"):
            raw = self._redis.hgetall(keys.source(source_id))
        if not raw:
            raise NotFound(f"source {source_id} not found")
        fields = {text(key): text(value) for key, value in raw.items()}
        return StoredSource(
            id=source_id,
            collector_id=fields["collector"],
            config=SourceConfig.from_json(json.loads(fields["config"])),
            version=int(fields["version"]),
            status=status_from_json(json.loads(fields["state"])),
        )

    def in_collector(self, collector_id: str, source_id: str) -> StoredSource:
        """The source, if it belongs to that collector (NotFound otherwise)."""
        found = self.get(source_id)
        if found.collector_id != collector_id:
            raise NotFound(f"source {source_id} not found")
        return found

    def ids(self, collector_id: str | None = None, offset: int = 0, limit: int = 1000) -> list[str]:
        """Source ids in creation order: of one collector, or of all."""
        key = keys.collector_sources(collector_id) if collector_id is not None else keys.sources()
        return listing.ids_in(self._redis, key, offset, limit, "source listing")

    def page(self, collector_id: str, offset: int = 0, limit: int = 1000) -> list[StoredSource]:
        return listing.still_there(self.ids(collector_id, offset, limit), self.get)

    def secret(self, source_id: str) -> str:
        """The clear client secret, for the worker's token request only."""
        with redis_failures("secret read"):
            token = self._redis.get(keys.source_secret(source_id))
        if token is None:
            raise NotFound(f"source {source_id} has no stored secret")
        return self._box.decrypt(text(token))

    def update(
        self,
        source_id: str,
        config: SourceConfig,
        secret: str | None,
        now: datetime,
        *,
        expected_version: int | None,
        reason: str = "updated",
    ) -> StoredSource:
        """Replace the config (and the secret, when given) and go back to `Pending` to start again.

        IllegalTransition when Stopping, StaleVersion on a stale `If-Match`, NameTaken on a clash.
        """
        token = self._box.encrypt(secret) if secret is not None else ""
        for _ in range(_CAS_ATTEMPTS):
            current = self.get(source_id)
            status, entry = move(current.status, State.PENDING, now, reason)
            with redis_failures("source update"):
                result = int(
                    self._update(
                        keys=[
                            keys.source(source_id),
                            keys.collector_source_names(current.collector_id),
                            keys.source_secret(source_id),
                            keys.source_history(source_id),
                        ],
                        args=[
                            "" if expected_version is None else expected_version,
                            current.status.epoch,
                            fold(config.name),
                            dumps(config.to_json()),
                            token,
                            dumps(status_to_json(status)),
                            dumps(entry.to_json()),
                            self._history_limit,
                            status.epoch,
                            source_id,
                        ],
                    )
                )
            if result == -3:
                continue  # the state moved meanwhile: decide again on what is stored now
            if result == -1:
                raise NotFound(f"source {source_id} not found")
            if result == -2:
                raise StaleVersion(f"source {source_id} changed since that ETag was read")
            if result == 0:
                raise NameTaken(f"a source named {config.name!r} already exists in this collector")
            return StoredSource(source_id, current.collector_id, config, result, status)
        raise StaleVersion(f"source {source_id} kept changing; try again")

    def restart(self, source_id: str, now: datetime, reason: str = "restarted") -> SourceStatus:
        """Back to `Pending` with a new generation, from the stored checkpoints."""
        return self.transition(source_id, State.PENDING, now, reason)

    def transition(
        self,
        source_id: str,
        target: State,
        now: datetime,
        reason: str,
        *,
        error: StateError | None = None,
        expect_generation: int | None = None,
        failures: tuple[float | None, int] | None = None,
    ) -> SourceStatus:
        """Move the source as the table allows, by compare-and-set; re-decides if the state moved.

        With `expect_generation`, a source restarted meanwhile (a newer generation) is left alone:
        StaleVersion. `failures` records the retry streak (first failure, count) with an Error.
        """
        for _ in range(_CAS_ATTEMPTS):
            current = self.get(source_id)
            if expect_generation is not None and current.status.generation != expect_generation:
                raise StaleVersion(f"source {source_id} was restarted meanwhile")
            status, entry = move(current.status, target, now, reason, error=error)
            if failures is not None:
                status = _with_streak(status, failures)
            with redis_failures("source state"):
                result = int(
                    self._transition(
                        keys=[
                            keys.source(source_id),
                            keys.source_history(source_id),
                            keys.collector_source_names(current.collector_id),
                        ],
                        args=[
                            current.status.epoch,
                            dumps(status_to_json(status)),
                            dumps(entry.to_json()),
                            self._history_limit,
                            status.epoch,
                            "1" if target is State.STOPPING else "0",
                            source_id,
                        ],
                    )
                )
            if result == 1:
                return status
            if result == -1:
                raise NotFound(f"source {source_id} not found")
        raise StaleVersion(f"source {source_id} kept changing; try again")

    def history(self, source_id: str, limit: int | None = None) -> list[dict[str, Any]]:
        """The recorded transitions, newest first."""
        with redis_failures("history read"):
            raw = self._redis.lrange(keys.source_history(source_id), 0, (limit or self._history_limit) - 1)
        return [json.loads(text(item)) for item in raw]

    def remove(self, source_id: str, now_ms: int) -> bool:
        """Delete a `Stopping` source with everything under it; Busy while work is in flight.

        False (nothing removed) if it is gone or not Stopping. Keys are found by pattern first,
        then deleted by one script that checks again that the source is Stopping and idle.
        """
        current = self.get_optional(source_id)
        if current is None:
            return False
        stream_ids = keys.stream_of(source_id, "*")
        patterns = [
            keys.source_pattern(source_id),
            keys.checkpoint(stream_ids),
            keys.lease(stream_ids),
            keys.epoch(stream_ids),
        ]
        with redis_failures("source removal"):
            doomed = sorted(
                {text(key) for pattern in patterns for key in self._redis.scan_iter(match=pattern)}
            )
            due = [text(member) for member, _ in self._redis.zscan_iter(keys.due_streams(), match=stream_ids)]
            result = int(
                self._remove(
                    keys=[
                        keys.source(source_id),
                        keys.source_in_flight(source_id),
                        keys.collector_sources(current.collector_id),
                        keys.sources(),
                        keys.open_events(),
                        keys.open_event_bodies(),
                        keys.source_open_events(source_id),
                        keys.due_streams(),
                        *doomed,
                    ],
                    args=[source_id, now_ms, *due],
                )
            )
        if result == -2:
            raise Busy(f"source {source_id} still has work in flight")
        return result == 1

    def get_optional(self, source_id: str) -> StoredSource | None:
        try:
            return self.get(source_id)
        except NotFound:
            return None


def _with_streak(status: SourceStatus, failures: tuple[float | None, int]) -> SourceStatus:
    first, count = failures
    return replace(status, first_failure=first, failures=count)

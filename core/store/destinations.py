"""Destinations in Redis: names unique (case-insensitive), secrets encrypted, every write one script.

A destination's config is stored with its secrets masked; the secret values are one Fernet token
(`secrets`, JSON inside) that only `resolve` decrypts, for the worker that writes to it. Each
write's outcome is kept as the destination's health and counted in the shared counters (batches,
records, failures by kind, send time), which `/metrics` shows per destination.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis

from core.sinks.routing import Outcome
from core.sinks.specs import JsonConfig, join_secrets, split_secrets
from core.store import keys, listing
from core.store.codec import dumps, fold, text
from core.store.coordination import redis_failures
from core.store.counters import Counters
from core.store.outcomes import InUse, NameTaken, NotFound, StaleVersion
from core.store.secrets import SecretBox
from core.store.sources import new_id

BATCHES = "destination_batches"  # labels: destination, type
RECORDS = "destination_records"  # labels: destination, type
FAILURES = "destination_failures"  # labels: destination, type, kind
SEND_MS = "destination_send_milliseconds"  # labels: destination, type (sum over every send)
SENDS = "destination_sends"  # labels: destination, type (every send, accepted or failed)
COUNTERS = (BATCHES, RECORDS, FAILURES, SEND_MS, SENDS)

# KEYS: names, destination, destinations, sequence. ARGV: folded name, id, name, type, config, secrets,
# created.
_CREATE = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then
    return 0
end
local seq = redis.call('INCR', KEYS[4])
redis.call('HSET', KEYS[2], 'name', ARGV[3], 'type', ARGV[4], 'config', ARGV[5], 'secrets', ARGV[6],
    'version', 1, 'created', ARGV[7])
redis.call('ZADD', KEYS[3], seq, ARGV[2])
return 1
"""
# KEYS: names, destination. ARGV: expected version ('' = any), folded name, id, name, type, config,
# secrets, folded old name.
_UPDATE = """
if redis.call('EXISTS', KEYS[2]) == 0 then
    return -1
end
local version = tonumber(redis.call('HGET', KEYS[2], 'version'))
if ARGV[1] ~= '' and tonumber(ARGV[1]) ~= version then
    return -2
end
if redis.call('HGET', KEYS[1], ARGV[2]) ~= ARGV[3] then
    if redis.call('HSETNX', KEYS[1], ARGV[2], ARGV[3]) == 0 then
        return 0
    end
end
if ARGV[8] ~= ARGV[2] and redis.call('HGET', KEYS[1], ARGV[8]) == ARGV[3] then
    redis.call('HDEL', KEYS[1], ARGV[8])
end
redis.call('HSET', KEYS[2], 'name', ARGV[4], 'type', ARGV[5], 'config', ARGV[6], 'secrets', ARGV[7],
    'version', version + 1)
return version + 1
"""
# KEYS: names, destination, destinations, health, collectors. ARGV: folded name, id, collector key prefix.
# Refused (the name of a collector is returned) while a collector routes to the destination; names
# keep to ASCII, so string.lower is the case-folding of `fold`.
_DELETE = """
if redis.call('EXISTS', KEYS[2]) == 0 then
    return 0
end
for _, collector in ipairs(redis.call('ZRANGE', KEYS[5], 0, -1)) do
    local raw = redis.call('HGET', ARGV[3] .. collector, 'config')
    if raw then
        local config = cjson.decode(raw)
        if type(config['destinations']) == 'table' then
            for _, name in ipairs(config['destinations']) do
                if string.lower(name) == ARGV[1] then
                    return config['name']
                end
            end
        end
    end
end
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
    redis.call('HDEL', KEYS[1], ARGV[1])
end
redis.call('DEL', KEYS[2], KEYS[4])
redis.call('ZREM', KEYS[3], ARGV[2])
return 1
"""


@dataclass(frozen=True)
class StoredDestination:
    """A destination as anyone may see it: its config has every secret masked."""

    id: str
    name: str
    type: str
    config: JsonConfig
    version: int
    created: str


@dataclass(frozen=True)
class Health:
    ok: str | None  # when a batch was last accepted
    failed: str | None  # when a write last failed
    kind: str | None  # that failure's code, e.g. destination.unreachable
    message: str | None  # its safe summary

    def to_json(self) -> dict[str, Any]:
        healthy = self.failed is None or (self.ok is not None and self.ok >= self.failed)
        return {
            "status": "unknown"
            if self.ok is None and self.failed is None
            else ("ok" if healthy else "failing"),
            "lastSuccess": self.ok,
            "lastFailure": self.failed,
            "lastFailureKind": self.kind,
            "lastFailureMessage": self.message,
        }


class DestinationStore:
    def __init__(self, client: redis.Redis, box: SecretBox) -> None:
        self._redis = client
        self._box = box
        self._create: Callable[..., Any] = client.register_script(_CREATE)
        self._update: Callable[..., Any] = client.register_script(_UPDATE)
        self._delete: Callable[..., Any] = client.register_script(_DELETE)

    def create(self, name: str, kind: str, config: JsonConfig, now: datetime) -> StoredDestination:
        """Store a checked config (`specs.check`); NameTaken when the name is used."""
        destination_id = new_id()
        shown, secrets = split_secrets(kind, config)
        created = now.isoformat()
        with redis_failures("destination create"):
            result = int(
                self._create(
                    keys=[
                        keys.destination_names(),
                        keys.destination(destination_id),
                        keys.destinations(),
                        keys.sequence(),
                    ],
                    args=[fold(name), destination_id, name, kind, dumps(shown), self._seal(secrets), created],
                )
            )
        if result == 0:
            raise NameTaken(f"a destination named {name!r} already exists")
        return StoredDestination(destination_id, name, kind, shown, 1, created)

    def get(self, destination_id: str) -> StoredDestination:
        return self._read(destination_id)[0]

    def by_name(self, name: str) -> StoredDestination:
        with redis_failures("destination read"):
            found = self._redis.hget(keys.destination_names(), fold(name))
        if found is None:
            raise NotFound(f"destination {name!r} not found")
        return self.get(text(found))

    def page(self, offset: int = 0, limit: int = 1000) -> list[StoredDestination]:
        found = listing.ids_in(self._redis, keys.destinations(), offset, limit, "destination listing")
        return listing.still_there(found, self.get)

    def secrets(self, destination_id: str) -> dict[str, str]:
        """The stored secret values ("a.b" -> value), for an update that sends masks back."""
        return self._read(destination_id)[1]

    def resolve(self, name: str) -> tuple[StoredDestination, JsonConfig]:
        """The destination and its config with the secrets in: for the worker's memory only."""
        stored = self.by_name(name)
        return stored, join_secrets(stored.config, self.secrets(stored.id))

    def update(
        self, destination_id: str, name: str, kind: str, config: JsonConfig, *, expected_version: int | None
    ) -> StoredDestination:
        current = self.get(destination_id)
        shown, secrets = split_secrets(kind, config)
        with redis_failures("destination update"):
            result = int(
                self._update(
                    keys=[keys.destination_names(), keys.destination(destination_id)],
                    args=[
                        "" if expected_version is None else expected_version,
                        fold(name),
                        destination_id,
                        name,
                        kind,
                        dumps(shown),
                        self._seal(secrets),
                        fold(current.name),
                    ],
                )
            )
        if result == -1:
            raise NotFound(f"destination {destination_id} not found")
        if result == -2:
            raise StaleVersion(f"destination {destination_id} changed since that ETag was read")
        if result == 0:
            raise NameTaken(f"a destination named {name!r} already exists")
        return self.get(destination_id)

    def delete(self, destination_id: str) -> None:
        """Delete it; InUse naming a collector while one routes to it, NotFound when unknown."""
        current = self.get(destination_id)
        with redis_failures("destination delete"):
            result = self._delete(
                keys=[
                    keys.destination_names(),
                    keys.destination(destination_id),
                    keys.destinations(),
                    keys.destination_health(destination_id),
                    keys.collectors(),
                ],
                args=[fold(current.name), destination_id, keys.collector("")],
            )
        if result == 0:
            raise NotFound(f"destination {destination_id} not found")
        if not isinstance(result, int):
            raise InUse(
                f"destination {current.name!r} is routed to by collector {text(result)!r}: "
                "change the collector's destinations first"
            )

    def health(self, destination_id: str) -> Health:
        with redis_failures("destination health"):
            raw = self._redis.hgetall(keys.destination_health(destination_id))
        fields = {text(key): text(value) for key, value in raw.items()}
        return Health(fields.get("ok"), fields.get("failed"), fields.get("kind"), fields.get("message"))

    def _read(self, destination_id: str) -> tuple[StoredDestination, dict[str, str]]:
        with redis_failures("destination read"):
            raw = self._redis.hgetall(keys.destination(destination_id))
        fields = {text(key): text(value) for key, value in raw.items()}
        if not fields:
            raise NotFound(f"destination {destination_id} not found")
        stored = StoredDestination(
            id=destination_id,
            name=fields["name"],
            type=fields["type"],
            config=json.loads(fields["config"]),
            version=int(fields["version"]),
            created=fields.get("created", ""),
        )
        sealed = fields.get("secrets", "")
        return stored, (json.loads(self._box.decrypt(sealed)) if sealed else {})

    def _seal(self, secrets: Mapping[str, str]) -> str:
        return self._box.encrypt(dumps(dict(secrets))) if secrets else ""


class DestinationReport:
    """Each write's outcome: the destination's health, and its counters for `/metrics`."""

    def __init__(self, client: redis.Redis, counters: Counters) -> None:
        self._redis = client
        self._counters = counters

    def record(self, outcome: Outcome) -> None:
        """The counters and the health of one write, in one round trip (a pipeline): once per batch."""
        labels = {"destination": outcome.name, "type": outcome.type}
        pipe = self._redis.pipeline(transaction=False)
        self._counters.queue(pipe, SEND_MS, labels, max(0, round(outcome.seconds * 1000)))
        self._counters.queue(pipe, SENDS, labels)
        health = keys.destination_health(outcome.destination_id)
        if outcome.code is None:
            self._counters.queue(pipe, BATCHES, labels)
            self._counters.queue(pipe, RECORDS, labels, outcome.records)
            pipe.hset(health, "ok", outcome.at.isoformat())
        else:
            self._counters.queue(pipe, FAILURES, {**labels, "kind": outcome.code})
            pipe.hset(
                health,
                mapping={
                    "failed": outcome.at.isoformat(),
                    "kind": outcome.code,
                    "message": (outcome.message or "")[:500],
                },
            )
        with redis_failures("destination report"):
            pipe.execute()

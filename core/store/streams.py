"""Per-stream coordination in Redis: the due set, leases with fencing epochs, and checkpoints.

A stream is one collection of one source. Beat's `dispatch` claims due streams from a sorted set
(score = when due); a `fetch` takes the stream's lease, whose epoch increments on every grant; the
`forward` that follows commits the new checkpoint by compare-and-set, refused when the epoch moved
on (another worker holds the stream now) or the checkpoint changed under it. So a worker that lost
its lease can never commit, and a checkpoint never moves twice from the same place.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import redis

from core.errors import FirstPartyGenericError
from core.store import keys

_CLAIM_DUE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, member in ipairs(due) do
    redis.call('ZADD', KEYS[1], ARGV[2], member)
end
return due
"""
_ACQUIRE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
    return redis.call('INCR', KEYS[2])
end
return 0
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""
# KEYS: checkpoint hash, epoch counter. ARGV: epoch, expected version, cursor, committed at.
_COMMIT = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then
    return -1
end
local version = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if version ~= tonumber(ARGV[2]) then
    return -2
end
redis.call('HSET', KEYS[1], 'cursor', ARGV[3], 'version', version + 1, 'committed_at', ARGV[4])
return version + 1
"""


@contextmanager
def redis_failures(what: str) -> Iterator[None]:
    """Where redis exceptions become ours: trouble on our side, retried like any first-party error."""
    try:
        yield
    except redis.RedisError as exc:
        raise FirstPartyGenericError(f"Redis {what} failed: {type(exc).__name__}") from exc


@dataclass(frozen=True)
class Lease:
    """The right to work on one stream until `ttl` runs out; `epoch` fences stale holders."""

    stream: str
    token: str
    epoch: int


@dataclass(frozen=True)
class Checkpoint:
    """The stream's committed cursor (opaque JSON text, None before the first commit) and version."""

    cursor: str | None
    version: int
    committed_at: float | None


class StaleCommit(FirstPartyGenericError):
    """A commit refused: the lease's epoch moved on or the checkpoint changed since it was read."""

    retryable = False


class StreamStore:
    """Due set, leases and checkpoints of every stream, in one Redis."""

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._claim: Callable[..., Any] = client.register_script(_CLAIM_DUE)
        self._acquire: Callable[..., Any] = client.register_script(_ACQUIRE)
        self._renew: Callable[..., Any] = client.register_script(_RENEW)
        self._release: Callable[..., Any] = client.register_script(_RELEASE)
        self._commit: Callable[..., Any] = client.register_script(_COMMIT)

    # The due set.
    def schedule(self, stream: str, at: float) -> None:
        with redis_failures("schedule"):
            self._redis.zadd(keys.due_streams(), {stream: at})

    def unschedule(self, stream: str) -> None:
        with redis_failures("unschedule"):
            self._redis.zrem(keys.due_streams(), stream)

    def claim_due(self, now: float, hold_seconds: float, limit: int = 100) -> list[str]:
        """Streams due by `now`, pushed `hold_seconds` ahead so a lost chain comes due again."""
        with redis_failures("claim"):
            claimed = self._claim(keys=[keys.due_streams()], args=[now, now + hold_seconds, limit])
        return [_text(item) for item in claimed]

    def due_at(self, stream: str) -> float | None:
        with redis_failures("due read"):
            score = self._redis.zscore(keys.due_streams(), stream)
        return None if score is None else float(score)

    def overdue(self, now: float) -> int:
        """How many streams are due and not yet claimed."""
        with redis_failures("due count"):
            return int(self._redis.zcount(keys.due_streams(), "-inf", now))

    # Leases.
    def acquire(self, stream: str, ttl_seconds: float) -> Lease | None:
        """The stream's lease, or None when another worker holds it."""
        token = secrets.token_hex(8)
        with redis_failures("lease"):
            epoch = int(
                self._acquire(
                    keys=[keys.lease(stream), keys.epoch(stream)], args=[token, int(ttl_seconds * 1000)]
                )
            )
        return Lease(stream, token, epoch) if epoch else None

    def renew(self, lease: Lease, ttl_seconds: float) -> bool:
        with redis_failures("lease renewal"):
            return bool(
                self._renew(keys=[keys.lease(lease.stream)], args=[lease.token, int(ttl_seconds * 1000)])
            )

    def release(self, lease: Lease) -> None:
        with redis_failures("lease release"):
            self._release(keys=[keys.lease(lease.stream)], args=[lease.token])

    def held(self, stream: str) -> bool:
        with redis_failures("lease read"):
            return bool(self._redis.exists(keys.lease(stream)))

    # Checkpoints.
    def checkpoint(self, stream: str) -> Checkpoint:
        with redis_failures("checkpoint read"):
            raw = self._redis.hgetall(keys.checkpoint(stream))
        fields = {_text(key): _text(value) for key, value in raw.items()}
        committed = fields.get("committed_at")
        return Checkpoint(
            fields.get("cursor"), int(fields.get("version", 0)), float(committed) if committed else None
        )

    def commit(self, lease: Lease, expected_version: int, cursor: str, now: float) -> int:
        """Store `cursor` as the stream's checkpoint; the new version, or StaleCommit."""
        with redis_failures("checkpoint commit"):
            result = int(
                self._commit(
                    keys=[keys.checkpoint(lease.stream), keys.epoch(lease.stream)],
                    args=[lease.epoch, expected_version, cursor, now],
                )
            )
        if result == -1:
            raise StaleCommit("checkpoint not committed: the stream's lease passed to another worker")
        if result == -2:
            raise StaleCommit("checkpoint not committed: it changed since this page was fetched")
        return result

    def reset(self, stream: str, cursor: str | None) -> None:
        """Replace the checkpoint outright (a backfill); the epoch moves on to fence work in flight."""
        with redis_failures("checkpoint reset"):
            pipe = self._redis.pipeline(transaction=True)
            pipe.incr(keys.epoch(stream))
            if cursor is None:
                pipe.delete(keys.checkpoint(stream))
            else:
                pipe.hset(keys.checkpoint(stream), mapping={"cursor": cursor})
                pipe.hincrby(keys.checkpoint(stream), "version", 1)
            pipe.execute()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value

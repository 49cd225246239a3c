"""The last 24 hours of each collection, minute by minute: records forwarded and the lag.

Fed by `Counters.add(RECORDS_FORWARDED, ...)`, which every forward calls after its commit (with 0
when a page held nothing), so the engine needs no other hook. Each (source, collection) has one
Redis string: a ring of `MINUTES` slots of 12 bytes (minute since the epoch, records, lag + 1),
slot = minute mod `MINUTES`, written in place by one script. Its size is fixed at 17,280 bytes
whatever the traffic, and it expires a day after the last write; the source's deletion removes it
with everything under the source. The lag kept for a minute is the one after its last commit.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis

from core.clock import Clock, SystemClock
from core.errors import UnreadableCheckpoint
from core.models import BatchCursor, cursor_of_text
from core.store import keys
from core.store.coordination import Checkpoint, Coordination, redis_failures

MINUTES = 24 * 60
SLOT = struct.Struct(">III")  # minute, records forwarded, lag seconds + 1 (0: not known)
EXPIRE_SECONDS = MINUTES * 60 + 3600
MOST = 2**32 - 1

# KEYS: ring. ARGV: minute, records, lag + 1 (0: not known), slots, expire seconds.
_RECORD = """
local minute = tonumber(ARGV[1])
local offset = (minute % tonumber(ARGV[4])) * 12
local count, lag = tonumber(ARGV[2]), tonumber(ARGV[3])
local raw = redis.call('GETRANGE', KEYS[1], offset, offset + 11)
if #raw == 12 then
  local was, had, seen = struct.unpack('>I4I4I4', raw)
  if was == minute then
    count = count + had
    if lag == 0 then lag = seen end
  end
end
if count > 4294967295 then count = 4294967295 end
redis.call('SETRANGE', KEYS[1], offset, struct.pack('>I4I4I4', minute, count, lag))
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[5]))
return count
"""


@dataclass(frozen=True)
class Series:
    """One collection's minutes from `start` (UTC, on the minute), oldest first: records forwarded
    in each, and the lag in seconds after its last commit (a minute with no commit: the minute
    before's, a minute older; None before the first known one)."""

    start: datetime
    forwarded: tuple[int, ...]
    lag: tuple[int | None, ...]

    def to_json(self) -> dict[str, Any]:
        start = self.start.isoformat().replace("+00:00", "Z")
        return {
            "start": start,
            "stepSeconds": 60,
            "forwarded": list(self.forwarded),
            "lagSeconds": list(self.lag),
        }


def minute_of(moment: datetime) -> int:
    return int(moment.timestamp() // 60)


def series_from(raw: bytes, now: datetime, minutes: int = MINUTES) -> Series:
    """The `minutes` minutes up to `now` (included) from a ring's bytes. Pure."""
    minutes = max(1, min(minutes, MINUTES))
    last = minute_of(now)
    first = last - minutes + 1
    forwarded = [0] * minutes
    lag: list[int | None] = [None] * minutes
    for offset in range(0, len(raw) - SLOT.size + 1, SLOT.size):
        minute, count, seen = SLOT.unpack_from(raw, offset)
        if first <= minute <= last:
            forwarded[minute - first] = count
            lag[minute - first] = seen - 1 if seen else None
    start = datetime.fromtimestamp(first * 60, UTC)
    return Series(start, tuple(forwarded), tuple(grown(lag)))


def grown(lag: list[int | None]) -> list[int | None]:
    """A minute without a commit has the lag of the minute before, a minute older: nothing moved
    the checkpoint, so a stalled stream's lag rises in the chart instead of leaving a hole. Before
    the first known minute it stays unknown. Pure."""
    filled: list[int | None] = []
    for seen in lag:
        previous = filled[-1] if filled else None
        filled.append(seen if seen is not None else (previous + 60 if previous is not None else None))
    return filled


def lag_of(checkpoint: Checkpoint, now: datetime) -> tuple[int | None, str | None]:
    """(lag in seconds, what it counts from) of a stream's checkpoint. Pure.

    A windowed stream has forwarded its records up to the end of its last window (`reached`; its
    start is an overlap earlier, read again for late records): the lag counts from there
    (`records`). A SIEM batch cursor holds no time, so its lag counts from its last commit
    (`commit`), as does a cursor this release cannot read. Before the first commit: (None, None).
    """
    cursor = None
    if checkpoint.cursor is not None:
        try:
            cursor = cursor_of_text(checkpoint.cursor)
        except UnreadableCheckpoint:
            cursor = None
    if cursor is not None and not isinstance(cursor, BatchCursor):
        start = cursor.reached if cursor.reached.tzinfo else cursor.reached.replace(tzinfo=UTC)
        return max(0, round((now - start).total_seconds())), "records"
    if checkpoint.cursor is not None and checkpoint.committed_at is not None:
        return max(0, round(now.timestamp() - checkpoint.committed_at)), "commit"
    return None, None


class History:
    """Per-minute records and lag of each collection, in Redis, with a fixed size per collection."""

    def __init__(self, client: redis.Redis, clock: Clock | None = None) -> None:
        self._redis = client
        self._clock = clock or SystemClock()
        self._checkpoints = Coordination(client)
        self._record: Callable[..., Any] = client.register_script(_RECORD)

    def record(self, source_id: str, collection: str, forwarded: int) -> None:
        """Count `forwarded` records in this minute, and keep the stream's lag as it is now."""
        now = self._clock.now()
        checkpoint = self._checkpoints.checkpoint(keys.stream_of(source_id, collection))
        lag, _ = lag_of(checkpoint, now)
        stored_lag = 0 if lag is None else min(lag, MOST - 1) + 1
        with redis_failures("progress history"):
            self._record(
                keys=[keys.source_progress(source_id, collection)],
                args=[minute_of(now), max(0, min(forwarded, MOST)), stored_lag, MINUTES, EXPIRE_SECONDS],
            )

    def series(
        self, source_id: str, collection: str, now: datetime | None = None, minutes: int = MINUTES
    ) -> Series:
        """The `minutes` minutes up to `now` (the clock's, when not given)."""
        with redis_failures("progress history read"):
            raw = self._redis.get(keys.source_progress(source_id, collection)) or b""
        moment = now if now is not None else self._clock.now()
        return series_from(raw if isinstance(raw, bytes) else b"", moment, minutes)

"""Per-unit coordination in Redis: every guard that keeps concurrent workers from losing or
repeating a record, in one store.

A unit of work is a stream (`source:collection`) or one of its children (a SIEM batch file, a
backfill sub-window; see `core.engine.units`). Each guard below is one Redis structure, changed
only by the scripts of this module:

| guard | race it prevents | checked by | what the loser does |
|---|---|---|---|
| due set (ZSET, score = when due) | a unit polled twice at once; a unit forgotten after a lost chain | `claim_due` pushes each claimed unit `hold` ahead in the same script | a second dispatch finds nothing due; a lost chain comes due again after `hold` |
| lease (`SET NX PX`, value = holder token) | two workers reading the same cursor | `acquire` in fetch; `handoff` moves it to the forward; `renew`/`release` only by the token's holder | a fetch that finds it taken exits quietly (the holder reschedules the unit) |
| page pin (`pin_start`, `pin_ids` in the checkpoint hash) | a page read again after a crash between the destination's write and the commit, which Mimecast changed in between (a late record), going out as a new batch beside the first | `handoff` writes it with the lease, in the same script; every commit (`commit`, `adopt`), `finish` and `reset` clears it | the re-read hands out exactly the pinned records (same batch id: the destination's write is idempotent) and the new ones next (`core.engine.pins`) |
| epoch (counter, +1 on every grant) | a worker whose lease lapsed committing after a newer holder read | every commit script compares it | `StaleCommit`: nothing is committed, the newer holder's page stands |
| checkpoint version (in the checkpoint hash) | a commit from a page fetched before another commit (or a reset) moved the cursor | every commit script compares it | `StaleCommit`, as above |
| children pending / running (ZSET, SET per source) | one source taking every worker; a child started twice; a child lost in a crash | `adopt` records children and moves the parent's cursor in one script; `pump` admits children only while running < bound; `finish` frees a slot and admits the next in one script | nothing to lose: a child is in pending, or in running and the due set, at every moment |
| halts (generation per collection, or `*` for every collection) | a collection calling Mimecast after it was halted (its own configuration error or retry window; refused credentials halt every collection), until an update or restart | the gate in fetch and forward reads them | the unit leaves the due set; a child is parked (its slot goes to the next child, of a collection still collecting) until the next hand-off puts it back in line |
| in-flight claims (ZSET per source, score = lapse time) | a source removed while a task still writes for it | `begin_work` refuses once the source is Stopping; removal (`SourceStore.remove`) waits for none unexpired | the task does nothing; removal retries later |

Every failure of Redis itself surfaces as `FirstPartyGenericError` (retried like any first-party
error); every refusal is a `StaleCommit`, which is not a source error at all.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import redis

from core.engine.pins import Pin
from core.errors import FirstPartyGenericError
from core.lifecycle.failures import EVERY_COLLECTION
from core.store import keys
from core.store.coordination_scripts import (
    ACQUIRE,
    ADOPT,
    BEGIN_WORK,
    CLAIM_DUE,
    COMMIT,
    FINISH,
    HANDOFF,
    PARK,
    PUMP,
    RELEASE,
    RENEW,
    UNPARK,
)
from core.store.outcomes import StoreRefusal

CLAIM_BATCH = 1000
# A finished child's epoch counter is kept this long, so a stale holder can never see it reborn at 1.
EPOCH_KEPT_SECONDS = 7 * 86400


@contextmanager
def redis_failures(what: str) -> Iterator[None]:
    """Where redis exceptions become ours: trouble on our side, retried like any first-party error."""
    try:
        yield
    except redis.RedisError as exc:
        raise FirstPartyGenericError(f"Redis {what} failed: {type(exc).__name__}") from exc


@dataclass(frozen=True)
class Lease:
    """The right to work on one unit until its ttl runs out; `epoch` fences stale holders."""

    unit: str
    token: str
    epoch: int


@dataclass(frozen=True)
class Checkpoint:
    """The unit's committed cursor (opaque JSON text, None before the first commit) and version;
    `pin` is the page handed to a forward since the last commit, if any."""

    cursor: str | None
    version: int
    committed_at: float | None
    pin: Pin | None = None


@dataclass(frozen=True)
class Children:
    """How many children of a source wait for a slot and how many hold one."""

    pending: int
    running: int


class StaleCommit(StoreRefusal):
    """A commit refused: the lease's epoch moved on or the checkpoint changed since it was read."""


def _source_of(unit: str) -> str:
    return unit.partition(":")[0]


class Coordination:
    """Due set, leases, epochs, checkpoints, children, halts and in-flight claims, in one Redis."""

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        script = client.register_script
        self._claim: Callable[..., Any] = script(CLAIM_DUE)
        self._acquire: Callable[..., Any] = script(ACQUIRE)
        self._renew: Callable[..., Any] = script(RENEW)
        self._handoff: Callable[..., Any] = script(HANDOFF)
        self._release: Callable[..., Any] = script(RELEASE)
        self._commit: Callable[..., Any] = script(COMMIT)
        self._adopt: Callable[..., Any] = script(ADOPT)
        self._finish: Callable[..., Any] = script(FINISH)
        self._pump: Callable[..., Any] = script(PUMP)
        self._begin: Callable[..., Any] = script(BEGIN_WORK)
        self._park: Callable[..., Any] = script(PARK)
        self._unpark: Callable[..., Any] = script(UNPARK)

    # The due set.
    def schedule(self, unit: str, at: float) -> None:
        with redis_failures("schedule"):
            self._redis.zadd(keys.due_streams(), {unit: at})

    def unschedule(self, unit: str) -> None:
        with redis_failures("unschedule"):
            self._redis.zrem(keys.due_streams(), unit)

    def claim_due(self, now: float, hold_seconds: float, batch: int = CLAIM_BATCH) -> list[str]:
        """Every unit due by `now`, claimed `batch` at a time, each pushed `hold_seconds` ahead so a
        lost chain comes due again."""
        claimed: list[str] = []
        with redis_failures("claim"):
            while True:
                found = self._claim(keys=[keys.due_streams()], args=[now, now + hold_seconds, batch])
                claimed.extend(_text(item) for item in found)
                if len(found) < batch:
                    return claimed

    def due_at(self, unit: str) -> float | None:
        with redis_failures("due read"):
            score = self._redis.zscore(keys.due_streams(), unit)
        return None if score is None else float(score)

    def overdue(self, now: float) -> int:
        """How many units are due and not yet claimed."""
        with redis_failures("due count"):
            return int(self._redis.zcount(keys.due_streams(), "-inf", now))

    # Leases.
    def acquire(self, unit: str, ttl_seconds: float) -> Lease | None:
        """The unit's lease, or None when another worker holds it."""
        token = secrets.token_hex(8)
        with redis_failures("lease"):
            epoch = int(
                self._acquire(keys=[keys.lease(unit), keys.epoch(unit)], args=[token, _ms(ttl_seconds)])
            )
        return Lease(unit, token, epoch) if epoch else None

    def handoff(self, lease: Lease, ttl_seconds: float, pin: Pin | None = None) -> Lease | None:
        """The same lease under a new holder token (fetch hands it to its forward); None if lapsed.

        With `pin`, the page being handed over is recorded in the unit's checkpoint in the same
        script (no extra round trip), so that a re-read after a crash hands out the same batch;
        only over an existing checkpoint (a windowed page always has one: its window was committed
        open before it was read)."""
        token = secrets.token_hex(8)
        args: list[Any] = [lease.token, token, _ms(ttl_seconds)]
        if pin is not None:
            args += [pin.start, ",".join(pin.ids)]
        with redis_failures("lease hand-off"):
            moved = self._handoff(keys=[keys.lease(lease.unit), keys.checkpoint(lease.unit)], args=args)
        return Lease(lease.unit, token, lease.epoch) if moved else None

    def renew(self, lease: Lease, ttl_seconds: float) -> bool:
        with redis_failures("lease renewal"):
            return bool(self._renew(keys=[keys.lease(lease.unit)], args=[lease.token, _ms(ttl_seconds)]))

    def release(self, lease: Lease) -> None:
        with redis_failures("lease release"):
            self._release(keys=[keys.lease(lease.unit)], args=[lease.token])

    def held(self, unit: str) -> bool:
        with redis_failures("lease read"):
            return bool(self._redis.exists(keys.lease(unit)))

    # Checkpoints.
    def checkpoint(self, unit: str) -> Checkpoint:
        with redis_failures("checkpoint read"):
            raw = self._redis.hgetall(keys.checkpoint(unit))
        fields = {_text(key): _text(value) for key, value in raw.items()}
        committed = fields.get("committed_at")
        start, ids = fields.get("pin_start"), fields.get("pin_ids")
        pin = Pin(start, tuple(ids.split(",")) if ids else ()) if start is not None else None
        return Checkpoint(
            fields.get("cursor"), int(fields.get("version", 0)), float(committed) if committed else None, pin
        )

    def exists(self, unit: str) -> bool:
        with redis_failures("checkpoint read"):
            return bool(self._redis.exists(keys.checkpoint(unit)))

    def commit(self, lease: Lease, expected_version: int, cursor: str, now: float) -> int:
        """Store `cursor` as the unit's checkpoint; the new version, or StaleCommit."""
        with redis_failures("checkpoint commit"):
            result = self._commit(
                keys=[keys.checkpoint(lease.unit), keys.epoch(lease.unit)],
                args=[lease.epoch, expected_version, cursor, now],
            )
        return _fenced(result)

    # Children.
    def adopt(
        self,
        lease: Lease,
        expected_version: int,
        cursor: str,
        children: Sequence[tuple[str, str]],
        now: float,
        bound: int,
        hold: float = 0.0,
        order: int | None = None,
    ) -> tuple[int, list[str]]:
        """Record `children` (unit id, first cursor) of the leased stream and commit its `cursor`, in
        one step; the new version and the children admitted to run now. The caller starts their
        chains; they are due again `hold` seconds on, should a chain be lost. `order`: where the
        first child queues for a slot (the rest follow it); by default the time in milliseconds."""
        source_id = _source_of(lease.unit)
        pairs = [part for child in children for part in child]
        with redis_failures("children record"):
            result = self._adopt(
                keys=[
                    keys.checkpoint(lease.unit),
                    keys.epoch(lease.unit),
                    keys.source_children_pending(source_id),
                    keys.source_children_running(source_id),
                    keys.due_streams(),
                    *(keys.checkpoint(child) for child, _ in children),
                ],
                args=[
                    lease.epoch,
                    expected_version,
                    cursor,
                    now,
                    bound,
                    _order(order, now),
                    now + hold,
                    *pairs,
                ],
            )
        return _fenced(result), [_text(item) for item in result[1]]

    def finish(
        self, lease: Lease, expected_version: int, now: float, bound: int, hold: float = 0.0
    ) -> list[str]:
        """A child is done: drop its checkpoint, free its slot and admit the next; the admitted,
        whose chains the caller starts (due again `hold` seconds on, should a chain be lost)."""
        source_id = _source_of(lease.unit)
        with redis_failures("child finish"):
            result = self._finish(
                keys=[
                    keys.checkpoint(lease.unit),
                    keys.epoch(lease.unit),
                    keys.source_children_pending(source_id),
                    keys.source_children_running(source_id),
                    keys.due_streams(),
                ],
                args=[lease.epoch, expected_version, lease.unit, now, bound, EPOCH_KEPT_SECONDS, now + hold],
            )
        _fenced(result)
        return [_text(item) for item in result[1]]

    def pump(self, source_id: str, now: float, bound: int) -> list[str]:
        """Admit waiting children while fewer than `bound` run; the admitted, due at `now` (dispatch
        starts them; a caller that starts them itself passes the time they are held until)."""
        with redis_failures("children admission"):
            found = self._pump(
                keys=[
                    keys.source_children_pending(source_id),
                    keys.source_children_running(source_id),
                    keys.due_streams(),
                ],
                args=[now, bound],
            )
        return [_text(item) for item in found]

    def park(self, unit: str, now: float, bound: int) -> list[str]:
        """A child of a halted collection gives its slot back and waits, parked, for the next
        hand-off; the children admitted in its place, due at `now` (dispatch starts them)."""
        source_id = _source_of(unit)
        with redis_failures("child park"):
            found = self._park(
                keys=[
                    keys.source_children_pending(source_id),
                    keys.source_children_running(source_id),
                    keys.due_streams(),
                    keys.source_children_parked(source_id),
                ],
                args=[unit, int(now * 1000), bound, now],
            )
        return [_text(item) for item in found]

    def resume_children(self, source_id: str, now: float) -> list[str]:
        """Every parked child is back in line, and every child holding a slot is due again at `now`
        (after a halt, a restart or an update); the latter."""
        with redis_failures("children resume"):
            self._unpark(
                keys=[keys.source_children_pending(source_id), keys.source_children_parked(source_id)]
            )
            running = [_text(item) for item in self._redis.smembers(keys.source_children_running(source_id))]
            if running:
                self._redis.zadd(keys.due_streams(), dict.fromkeys(running, now))
        return running

    def drop_child(self, unit: str) -> None:
        """Forget a child whose collection is no longer configured: no slot, no checkpoint, not due."""
        source_id = _source_of(unit)
        with redis_failures("child drop"):
            pipe = self._redis.pipeline(transaction=True)
            pipe.zrem(keys.source_children_pending(source_id), unit)
            pipe.srem(keys.source_children_running(source_id), unit)
            pipe.zrem(keys.source_children_parked(source_id), unit)
            pipe.zrem(keys.due_streams(), unit)
            pipe.delete(keys.checkpoint(unit))
            pipe.incr(keys.epoch(unit))
            pipe.execute()

    def children(self, source_id: str, stream: str | None = None) -> Children:
        """How many of the source's children (of one stream, if named) wait and run."""
        if stream is None:
            with redis_failures("children count"):
                pipe = self._redis.pipeline(transaction=False)
                pipe.zcard(keys.source_children_pending(source_id))
                pipe.scard(keys.source_children_running(source_id))
                waiting, holding = pipe.execute()
            return Children(int(waiting), int(holding))
        pending, running = self._children_of(source_id)
        if stream is not None:
            pending = [unit for unit in pending if unit.startswith(f"{stream}@")]
            running = [unit for unit in running if unit.startswith(f"{stream}@")]
        return Children(len(pending), len(running))

    def _children_of(self, source_id: str) -> tuple[list[str], list[str]]:
        with redis_failures("children read"):
            pending: list[Any] = self._redis.zrange(keys.source_children_pending(source_id), 0, -1)
            running: Any = self._redis.smembers(keys.source_children_running(source_id))
        return [_text(item) for item in pending], [_text(item) for item in running]

    def parked(self, source_id: str) -> list[str]:
        """The source's children parked while their collection is halted, in their order."""
        with redis_failures("children read"):
            found: list[Any] = self._redis.zrange(keys.source_children_parked(source_id), 0, -1)
        return [_text(item) for item in found]

    def reset(self, stream: str, cursor: str | None) -> None:
        """Replace a stream's checkpoint outright (a backfill) and drop its children; every epoch
        moves on, so work in flight on the stream or its children can no longer commit. The pin
        goes too: the new cursor is read afresh."""
        source_id = _source_of(stream)
        pending, running = self._children_of(source_id)
        parked = self.parked(source_id)
        with redis_failures("checkpoint reset"):
            doomed = [unit for unit in pending + running + parked if unit.startswith(f"{stream}@")]
            pipe = self._redis.pipeline(transaction=True)
            pipe.incr(keys.epoch(stream))
            if cursor is None:
                pipe.delete(keys.checkpoint(stream))
            else:
                pipe.hset(keys.checkpoint(stream), mapping={"cursor": cursor})
                pipe.hdel(keys.checkpoint(stream), "pin_start", "pin_ids")
                pipe.hincrby(keys.checkpoint(stream), "version", 1)
            for unit in doomed:
                pipe.zrem(keys.source_children_pending(source_id), unit)
                pipe.zrem(keys.source_children_parked(source_id), unit)
                pipe.srem(keys.source_children_running(source_id), unit)
                pipe.zrem(keys.due_streams(), unit)
                pipe.delete(keys.checkpoint(unit))
                pipe.incr(keys.epoch(unit))
            pipe.execute()

    # Halts: the generation in which a collection (or every collection: `*`) may not call Mimecast.
    def halt(self, source_id: str, generation: int, collection: str = EVERY_COLLECTION) -> None:
        with redis_failures("halt"):
            self._redis.hset(keys.source_halts(source_id), collection, generation)

    def halts(self, source_id: str) -> dict[str, int]:
        """Collection (or `*`) -> the generation it halted in; see `core.lifecycle.failures.halted`."""
        with redis_failures("halt read"):
            found = self._redis.hgetall(keys.source_halts(source_id))
        return {_text(name): int(_text(generation)) for name, generation in found.items()}

    def clear_halt(self, source_id: str) -> None:
        """An update or a restart lifts every halt of the source."""
        with redis_failures("halt reset"):
            self._redis.delete(keys.source_halts(source_id))

    # In-flight claims: fetch and forward hold one while they work on a source; removal waits.
    def begin_work(self, source_id: str, holder: str, now_ms: int, ttl_ms: int) -> bool:
        """Claim in-flight work on the source; False (nothing claimed) if it is Stopping or gone."""
        with redis_failures("in-flight claim"):
            return bool(
                self._begin(
                    keys=[keys.source(source_id), keys.source_in_flight(source_id)],
                    args=[holder, now_ms + ttl_ms],
                )
            )

    def end_work(self, source_id: str, holder: str) -> None:
        with redis_failures("in-flight release"):
            self._redis.zrem(keys.source_in_flight(source_id), holder)

    def in_flight(self, source_id: str, now_ms: int) -> int:
        """How many unexpired claims of in-flight work the source has."""
        with redis_failures("in-flight read"):
            return int(self._redis.zcount(keys.source_in_flight(source_id), f"({now_ms}", "+inf"))


def _fenced(result: Any) -> int:
    code = int(result[0])
    if code == -1:
        raise StaleCommit("checkpoint not committed: the unit's lease passed to another worker")
    if code == -2:
        raise StaleCommit("checkpoint not committed: it changed since this page was fetched")
    return code


def _ms(seconds: float) -> int:
    return max(int(seconds * 1000), 1)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _order(order: int | None, now: float) -> int:
    return int(now * 1000) if order is None else order

"""In-memory twin of `Coordination`, for fast unit tests of the engine's hand-offs and fan-out.

It keeps the same guards with the same answers (the shared contract suite runs against both), in
one process, under one lock. Nothing here is used by a deployment.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from core.engine.pins import Pin
from core.lifecycle.failures import EVERY_COLLECTION
from core.store.coordination import Checkpoint, Children, Lease, StaleCommit

_tokens = itertools.count(1)


def _source_of(unit: str) -> str:
    return unit.partition(":")[0]


@dataclass
class _Checkpoint:
    cursor: str | None
    version: int
    committed_at: float | None = None
    pin: Pin | None = None


@dataclass
class _Source:
    pending: dict[str, float] = field(default_factory=dict)
    running: set[str] = field(default_factory=set)
    parked: dict[str, float] = field(default_factory=dict)
    halts: dict[str, int] = field(default_factory=dict)
    in_flight: dict[str, int] = field(default_factory=dict)
    stopping: bool = False


class MemoryCoordination:
    """`Coordination`'s behaviour without Redis; leases lapse after their ttl (or at once by `expire`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.due: dict[str, float] = {}
        self.leases: dict[str, tuple[str, float]] = {}
        self.epochs: dict[str, int] = {}
        self.checkpoints: dict[str, _Checkpoint] = {}
        self.sources: dict[str, _Source] = {}

    def _source(self, unit: str) -> _Source:
        return self.sources.setdefault(_source_of(unit), _Source())

    # The due set.
    def schedule(self, unit: str, at: float) -> None:
        with self._lock:
            self.due[unit] = at

    def unschedule(self, unit: str) -> None:
        with self._lock:
            self.due.pop(unit, None)

    def claim_due(self, now: float, hold_seconds: float, batch: int = 1000) -> list[str]:
        with self._lock:
            claimed = sorted((at, unit) for unit, at in self.due.items() if at <= now)
            for _, unit in claimed:
                self.due[unit] = now + hold_seconds
            return [unit for _, unit in claimed]

    def due_at(self, unit: str) -> float | None:
        return self.due.get(unit)

    def overdue(self, now: float) -> int:
        return sum(1 for at in self.due.values() if at <= now)

    # Leases.
    def _holder(self, unit: str) -> str | None:
        found = self.leases.get(unit)
        if found is None or found[1] <= time.monotonic():
            self.leases.pop(unit, None)
            return None
        return found[0]

    def acquire(self, unit: str, ttl_seconds: float) -> Lease | None:
        with self._lock:
            if self._holder(unit) is not None:
                return None
            token = f"t{next(_tokens)}"
            self.leases[unit] = (token, time.monotonic() + ttl_seconds)
            self.epochs[unit] = self.epochs.get(unit, 0) + 1
            return Lease(unit, token, self.epochs[unit])

    def handoff(self, lease: Lease, ttl_seconds: float, pin: Pin | None = None) -> Lease | None:
        with self._lock:
            if self._holder(lease.unit) != lease.token:
                return None
            token = f"t{next(_tokens)}"
            self.leases[lease.unit] = (token, time.monotonic() + ttl_seconds)
            found = self.checkpoints.get(lease.unit)
            if pin is not None and found is not None:
                found.pin = pin
            return Lease(lease.unit, token, lease.epoch)

    def renew(self, lease: Lease, ttl_seconds: float) -> bool:
        with self._lock:
            if self._holder(lease.unit) != lease.token:
                return False
            self.leases[lease.unit] = (lease.token, time.monotonic() + ttl_seconds)
            return True

    def release(self, lease: Lease) -> None:
        with self._lock:
            if self._holder(lease.unit) == lease.token:
                del self.leases[lease.unit]

    def expire(self, unit: str) -> None:
        """The lease runs out (its holder died)."""
        with self._lock:
            self.leases.pop(unit, None)

    def held(self, unit: str) -> bool:
        with self._lock:
            return self._holder(unit) is not None

    # Checkpoints.
    def checkpoint(self, unit: str) -> Checkpoint:
        found = self.checkpoints.get(unit)
        if found is None:
            return Checkpoint(None, 0, None)
        return Checkpoint(found.cursor, found.version, found.committed_at, found.pin)

    def exists(self, unit: str) -> bool:
        return unit in self.checkpoints

    def _fence(self, lease: Lease, expected_version: int) -> int:
        if self.epochs.get(lease.unit) != lease.epoch:
            raise StaleCommit("checkpoint not committed: the unit's lease passed to another worker")
        found = self.checkpoints.get(lease.unit)
        version = found.version if found is not None else 0
        if version != expected_version:
            raise StaleCommit("checkpoint not committed: it changed since this page was fetched")
        return version

    def commit(self, lease: Lease, expected_version: int, cursor: str, now: float) -> int:
        with self._lock:
            version = self._fence(lease, expected_version) + 1
            self.checkpoints[lease.unit] = _Checkpoint(cursor, version, now)
            return version

    # Children.
    def _pump(self, source: _Source, at: float, bound: int) -> list[str]:
        admitted = []
        while len(source.running) < bound and source.pending:
            unit = min(source.pending, key=lambda name: (source.pending[name], name))
            del source.pending[unit]
            source.running.add(unit)
            self.due[unit] = at
            admitted.append(unit)
        return admitted

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
        with self._lock:
            version = self._fence(lease, expected_version) + 1
            self.checkpoints[lease.unit] = _Checkpoint(cursor, version, now)
            source = self._source(lease.unit)
            order = int(now * 1000) if order is None else order
            for unit, first in children:
                if unit not in self.checkpoints:
                    self.checkpoints[unit] = _Checkpoint(first, 0)
                    if unit not in source.running:
                        source.pending.setdefault(unit, order)
                order += 1
            return version, self._pump(source, now + hold, bound)

    def finish(
        self, lease: Lease, expected_version: int, now: float, bound: int, hold: float = 0.0
    ) -> list[str]:
        with self._lock:
            self._fence(lease, expected_version)
            self.checkpoints.pop(lease.unit, None)
            source = self._source(lease.unit)
            source.running.discard(lease.unit)
            self.due.pop(lease.unit, None)
            return self._pump(source, now + hold, bound)

    def pump(self, source_id: str, now: float, bound: int) -> list[str]:
        with self._lock:
            return self._pump(self.sources.setdefault(source_id, _Source()), now, bound)

    def park(self, unit: str, now: float, bound: int) -> list[str]:
        with self._lock:
            source = self._source(unit)
            source.running.discard(unit)
            source.pending.pop(unit, None)
            self.due.pop(unit, None)
            source.parked.setdefault(unit, int(now * 1000))
            return self._pump(source, now, bound)

    def parked(self, source_id: str) -> list[str]:
        parked = self.sources.setdefault(source_id, _Source()).parked
        return sorted(parked, key=lambda name: (parked[name], name))

    def resume_children(self, source_id: str, now: float) -> list[str]:
        with self._lock:
            source = self.sources.setdefault(source_id, _Source())
            for unit, order in source.parked.items():
                source.pending.setdefault(unit, order)
            source.parked.clear()
            running = sorted(source.running)
            for unit in running:
                self.due[unit] = now
            return running

    def drop_child(self, unit: str) -> None:
        with self._lock:
            source = self._source(unit)
            source.pending.pop(unit, None)
            source.running.discard(unit)
            source.parked.pop(unit, None)
            self.due.pop(unit, None)
            self.checkpoints.pop(unit, None)
            self.epochs[unit] = self.epochs.get(unit, 0) + 1

    def children(self, source_id: str, stream: str | None = None) -> Children:
        source = self.sources.setdefault(source_id, _Source())
        pending = [unit for unit in source.pending if stream is None or unit.startswith(f"{stream}@")]
        running = [unit for unit in source.running if stream is None or unit.startswith(f"{stream}@")]
        return Children(len(pending), len(running))

    def reset(self, stream: str, cursor: str | None) -> None:
        with self._lock:
            self.epochs[stream] = self.epochs.get(stream, 0) + 1
            if cursor is None:
                self.checkpoints.pop(stream, None)
            else:
                found = self.checkpoints.get(stream)
                self.checkpoints[stream] = _Checkpoint(cursor, (found.version if found else 0) + 1)
            source = self._source(stream)
            doomed = [*source.pending, *source.running, *source.parked]
            for unit in [u for u in doomed if u.startswith(f"{stream}@")]:
                source.pending.pop(unit, None)
                source.running.discard(unit)
                source.parked.pop(unit, None)
                self.due.pop(unit, None)
                self.checkpoints.pop(unit, None)
                self.epochs[unit] = self.epochs.get(unit, 0) + 1

    # Halts and in-flight claims.
    def halt(self, source_id: str, generation: int, collection: str = EVERY_COLLECTION) -> None:
        self.sources.setdefault(source_id, _Source()).halts[collection] = generation

    def halts(self, source_id: str) -> dict[str, int]:
        return dict(self.sources.setdefault(source_id, _Source()).halts)

    def clear_halt(self, source_id: str) -> None:
        self.sources.setdefault(source_id, _Source()).halts.clear()

    def begin_work(self, source_id: str, holder: str, now_ms: int, ttl_ms: int) -> bool:
        source = self.sources.setdefault(source_id, _Source())
        if source.stopping:
            return False
        source.in_flight[holder] = now_ms + ttl_ms
        return True

    def end_work(self, source_id: str, holder: str) -> None:
        self.sources.setdefault(source_id, _Source()).in_flight.pop(holder, None)

    def in_flight(self, source_id: str, now_ms: int) -> int:
        claims = self.sources.setdefault(source_id, _Source()).in_flight.values()
        return sum(1 for lapses in claims if lapses > now_ms)

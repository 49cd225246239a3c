"""What every task on a unit of work shares: its context, the gate, the in-flight claim, and the
carrying out of decided outcomes (state moves, health events, failures). Decides nothing itself:
`core.engine.decisions`, `core.lifecycle.failures` and `core.lifecycle.health` do.
"""

from __future__ import annotations

import logging
import random
import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from core.engine.decisions import Gate, after_commit, gate
from core.engine.units import Unit, parse
from core.errors import RateLimited, Refusal, SourceError
from core.lifecycle import failures, health
from core.lifecycle.failures import START, FailureOutcome, on_failure
from core.lifecycle.states import State, StateError
from core.mimecast.pacing import Paced
from core.models import Gap
from core.store import counters
from core.store.outcomes import NotFound
from core.store.sources import StoredSource
from tasks.chains import start_chains
from worker.wiring import Services

log = logging.getLogger(__name__)


def event_id() -> str:
    return secrets.token_hex(8).upper()


def identity(svc: Services, source: StoredSource) -> health.ResourceIdentity:
    return health.ResourceIdentity(
        source.collector_id, collector_name(svc, source), source.id, source.config.name
    )


def collector_name(svc: Services, source: StoredSource) -> str:
    try:
        return svc.collectors.get(source.collector_id).config.name
    except NotFound:
        return ""


def show_failure(
    svc: Services,
    source: StoredSource,
    error: SourceError,
    outcome: FailureOutcome,
    where: str = START,
) -> None:
    """Move the source to Error and open (or refresh) the health event, as the outcome says; both
    name the collection (`where`) that failed. The state names a stopped collection before one
    still retried (`failures.shown`), and its reason which other collections fail too."""
    if not outcome.shown:
        return
    collection = None if where == START else where
    state_error = StateError.of(error, collection)
    reason = outcome.reason
    moves = True
    if collection is not None:
        failing = svc.streaks.failing(source.id)
        state_error = getattr(failures.shown(failing), "error", state_error)
        reason = failures.failure_reason(outcome, failing, collection)
        status = (svc.sources.get_optional(source.id) or source).status
        if status.generation != source.status.generation:
            return  # the source moved on (updated, restarted): this failure is stale
        moves = failures.news(status.error, status.state is State.ERROR, state_error, outcome.stops)
    try:
        if moves:
            svc.sources.transition(
                source.id,
                State.ERROR,
                svc.clock.now(),
                reason,
                error=state_error,
                failures=(outcome.streak.first_at, outcome.streak.attempts) if collection is None else None,
                expect_generation=source.status.generation,
            )
    except Refusal:
        return  # the source moved on (updated, restarted, deleted): this failure is stale
    event = health.problem(
        StateError.of(error, collection),
        identity(svc, source),
        svc.clock.now(),
        event_id(),
        open_events=svc.health.open_events_of(source.id),
        final=outcome.final,
    )
    svc.health.open(event)


def resolve(svc: Services, source: StoredSource) -> None:
    """Resolve the source's open problem events (a gap stays open: its data is still missing)."""
    opened = {
        name: event
        for name, event in svc.health.open_events_of(source.id).items()
        if name != health.GAP_EVENT
    }
    healthy = health.recovery(opened, identity(svc, source), svc.clock.now(), event_id())
    if healthy is not None:
        svc.health.resolve(healthy)


@dataclass
class Work:
    """One task's work on one unit."""

    svc: Services
    unit: Unit

    @classmethod
    def of(cls, svc: Services, unit_id: str) -> Work:
        return cls(svc, parse(unit_id))

    @property
    def now(self) -> float:
        return self.svc.clock.now().timestamp()

    @property
    def labels(self) -> dict[str, str]:
        return {"source": self.unit.source_id, "collection": self.unit.collection}

    @contextmanager
    def in_flight(self, what: str) -> Iterator[bool]:
        """Hold a claim of in-flight work on the source (removal waits for it); False if Stopping."""
        holder = f"{what}:{self.unit.id}:{uuid.uuid4().hex[:8]}"
        ttl_ms = int(self.svc.settings.task_time_limit_seconds * 1000) + 5000
        coordination = self.svc.coordination
        claimed = coordination.begin_work(self.unit.source_id, holder, int(self.now * 1000), ttl_ms)
        try:
            yield claimed
        finally:
            if claimed:
                coordination.end_work(self.unit.source_id, holder)

    def admitted(self, source: StoredSource | None) -> bool:
        """The gate before any Mimecast call; a unit that must quit leaves the due set, and a child
        of a halted collection gives its slot back (parked until an update or a restart)."""
        coordination = self.svc.coordination
        verdict = gate(
            source.status if source is not None else None,
            source.config.data_collection if source is not None else (),
            self.unit.collection,
            coordination.halts(self.unit.source_id) if source is not None else {},
        )
        if verdict is Gate.HALTED and self.unit.is_child:
            bound = self.svc.settings.max_in_flight_per_source
            start_chains(coordination.park(self.unit.id, self.now, bound))
        elif verdict in (Gate.QUIT, Gate.HALTED):
            configured = source is not None and self.unit.collection in source.config.data_collection
            if self.unit.is_child and source is not None and not configured:
                coordination.drop_child(self.unit.id)
            else:
                coordination.unschedule(self.unit.id)
        if verdict in (Gate.QUIT, Gate.HALTED):
            log.info(
                "unit %s quits: its source is gone or stopping, or its collection halted or dropped",
                self.unit,
            )
        return verdict is Gate.GO

    def throttle(self, source: StoredSource, endpoint: str, error: RateLimited) -> None:
        """A 429: no unit on this client id calls `endpoint` before the reset Mimecast named."""
        self.svc.throttle.pause(source.config.client_id, endpoint, self.now + error.wait_seconds, self.now)

    def throttled(self, source: StoredSource, endpoint: str) -> bool:
        """Whether another unit on this client id met a 429 on `endpoint` whose reset is still ahead;
        if so, this unit is due again at the reset and makes no call."""
        until = self.svc.throttle.paused_until(source.config.client_id, endpoint, self.now)
        if until is None:
            return False
        self.svc.coordination.schedule(self.unit.id, until)
        self.svc.counters.add(counters.THROTTLE_WAITS, self.labels)
        log.info("unit %s waits out a rate limit on its client id until %.0f", self.unit, until)
        return True

    def paced(self, paced: Paced) -> None:
        """The application's rate budget paces this unit: due again when its next call may go."""
        self.svc.coordination.schedule(self.unit.id, paced.until)
        log.info("unit %s: %s", self.unit, paced)

    def waited(self, endpoint: str, seconds: float, rescheduled: bool) -> None:
        """Count a pacing wait (in place, or by rescheduling the unit), per endpoint."""
        labels = {"endpoint": endpoint, "how": "rescheduled" if rescheduled else "inline"}
        self.svc.counters.add(counters.PACING_WAITS, labels)
        self.svc.counters.add(counters.PACING_WAIT_MS, labels, max(int(seconds * 1000), 0))

    def gap(self, source: StoredSource, found: Gap) -> None:
        svc = self.svc
        event = health.gap(
            found.what,
            found.reason,
            identity(svc, source),
            svc.clock.now(),
            event_id(),
            open_events=svc.health.open_events_of(source.id),
        )
        svc.health.open(event)
        log.warning("unit %s: gap: %s (%s)", self.unit, found.what, found.reason)

    def failed(self, source: StoredSource, error: SourceError) -> None:
        """An error of this unit, handled as the contract's table says, for its collection alone
        (refused credentials: for every collection)."""
        svc, collection = self.svc, self.unit.collection
        streak, before = svc.streaks.get(source.id, self.unit.id)
        outcome = on_failure(error, streak, self.now, random.random(), svc.policy, collection)
        if error.counts_as_failure:
            svc.counters.add(counters.ERRORS, {**self.labels, "type": error.error_type.value})
        log.warning("unit %s: %s -> %s", self.unit, error, outcome.reason)
        shown = (
            failures.Failing(StateError.of(error, collection), outcome.stops, self.now)
            if outcome.shown
            else before
        )
        svc.streaks.put(source.id, self.unit.id, outcome.streak, shown)
        if outcome.retry_at is not None:
            svc.coordination.schedule(self.unit.id, outcome.retry_at)
        else:
            svc.coordination.halt(source.id, source.status.generation, outcome.halts or collection)
            if self.unit.is_child:
                bound = svc.settings.max_in_flight_per_source
                start_chains(svc.coordination.park(self.unit.id, self.now, bound))
            else:
                svc.coordination.unschedule(self.unit.id)
        show_failure(svc, source, error, outcome, collection)

    def delivered(self, source: StoredSource) -> None:
        """After a committed page: the first moves the source to Collecting; the last failing
        collection's success recovers it from Error and resolves its events. While others still
        fail, the state goes on naming one of them."""
        svc = self.svc
        remaining = svc.streaks.clear(source.id, self.unit.id)
        current = svc.sources.get_optional(source.id) or source
        outcome = after_commit(current.status.state, len(remaining))
        if not outcome.to_collecting:
            if current.status.state is State.ERROR:
                self._still_failing(current, remaining)
            return
        reason = "first page delivered" if not outcome.resolve else "collection recovered"
        try:
            svc.sources.transition(
                source.id,
                State.COLLECTING,
                svc.clock.now(),
                reason,
                expect_generation=current.status.generation,
            )
        except Refusal:
            return
        if outcome.resolve:
            resolve(svc, current)

    def _still_failing(self, current: StoredSource, remaining: list[failures.Failing]) -> None:
        """One collection is back while others fail: the state names one still failing."""
        svc = self.svc
        moved = failures.reshown(current.status.error, remaining, self.unit.collection)
        if moved is None:
            return
        error, reason = moved
        try:
            svc.sources.transition(
                current.id,
                State.ERROR,
                svc.clock.now(),
                reason,
                error=error,
                expect_generation=current.status.generation,
            )
        except Refusal:
            return
        shown = failures.shown(remaining)
        event = health.problem(
            error,
            identity(svc, current),
            svc.clock.now(),
            event_id(),
            open_events=svc.health.open_events_of(current.id),
            final=shown is not None and shown.stopped,
        )
        svc.health.open(event)

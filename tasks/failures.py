"""Carrying out what the failure policy decided: a unit's failure (streak, retry or halt, the
state, the health event) and a delivered page (Collecting, recovery, or the state naming another
collection still failing). Decides nothing: `core.lifecycle.failures` and `core.lifecycle.health` do.
"""

from __future__ import annotations

import logging
import random
import secrets

from core.engine.decisions import after_commit
from core.engine.units import Unit
from core.errors import Refusal, SourceError
from core.lifecycle import failures, health
from core.lifecycle.failures import START, FailureOutcome, on_failure
from core.lifecycle.states import State, StateError
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
    failed_at = (outcome.streak.first_at, outcome.streak.attempts) if collection is None else None
    if moves and not _into_error(svc, source, state_error, reason, failed_at):
        return  # the source moved on (updated, restarted, deleted): this failure is stale
    _open_problem(svc, source, StateError.of(error, collection), outcome.final)


def _into_error(
    svc: Services,
    source: StoredSource,
    error: StateError,
    reason: str,
    failed_at: tuple[float | None, int] | None = None,
) -> bool:
    """Move the source (of the generation it was read in) to Error naming `error`; False when it
    moved on meanwhile (updated, restarted, deleted)."""
    try:
        svc.sources.transition(
            source.id,
            State.ERROR,
            svc.clock.now(),
            reason,
            error=error,
            failures=failed_at,
            expect_generation=source.status.generation,
        )
    except Refusal:
        return False
    return True


def _open_problem(svc: Services, source: StoredSource, error: StateError, final: bool) -> None:
    """Open (or refresh) the health event of `error`."""
    event = health.problem(
        error,
        identity(svc, source),
        svc.clock.now(),
        event_id(),
        open_events=svc.health.open_events_of(source.id),
        final=final,
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


def failed(svc: Services, source: StoredSource, unit: Unit, error: SourceError) -> None:
    """An error of this unit, handled as the contract's table says, for its collection alone
    (refused credentials: for every collection)."""
    collection, now = unit.collection, svc.clock.now().timestamp()
    streak, before = svc.streaks.get(source.id, unit.id)
    outcome = on_failure(error, streak, now, random.random(), svc.policy, collection)
    if error.counts_as_failure:
        svc.counters.add(
            counters.ERRORS,
            {"source": unit.source_id, "collection": collection, "type": error.error_type.value},
        )
    log.warning("unit %s: %s -> %s", unit, error, outcome.reason)
    shown = (
        failures.Failing(StateError.of(error, collection), outcome.stops, now) if outcome.shown else before
    )
    svc.streaks.put(source.id, unit.id, outcome.streak, shown)
    # The state and the event first, the retry after: a retry that delivers at once then finds
    # them, and resolves them, instead of racing this failure's event open after its recovery.
    show_failure(svc, source, error, outcome, collection)
    if outcome.retry_at is not None:
        svc.coordination.schedule(unit.id, outcome.retry_at)
    else:
        svc.coordination.halt(source.id, source.status.generation, outcome.halts or collection)
        if unit.is_child:
            bound = svc.settings.max_in_flight_per_source
            start_chains(svc.coordination.park(unit.id, now, bound))
        else:
            svc.coordination.unschedule(unit.id)


def delivered(svc: Services, source: StoredSource, unit: Unit) -> None:
    """After a committed page: the first moves the source to Collecting; the last failing
    collection's success recovers it from Error and resolves its events. While others still
    fail, the state goes on naming one of them."""
    recovering, remaining = svc.streaks.clear(source.id, unit.id)
    current = svc.sources.get_optional(source.id) or source
    outcome = after_commit(current.status.state, len(remaining), recovering)
    if not outcome.to_collecting:
        if outcome.resolve:
            resolve(svc, current)
        elif current.status.state is State.ERROR:
            _still_failing(svc, current, remaining, unit.collection)
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


def _still_failing(
    svc: Services, current: StoredSource, remaining: list[failures.Failing], recovered: str
) -> None:
    """One collection is back while others fail: the state names one still failing."""
    moved = failures.reshown(current.status.error, remaining, recovered)
    if moved is None:
        return
    error, reason = moved
    if _into_error(svc, current, error, reason):
        shown = failures.shown(remaining)
        _open_problem(svc, current, error, shown is not None and shown.stopped)

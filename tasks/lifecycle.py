"""Lifecycle tasks: start a source (Pending -> Started -> Initialized -> Authenticated), delete it.

Messages carry ids only: the worker reads the config and the encrypted secret from Redis. Every
state change is a compare-and-set through the pure transition table, so a start of an older
generation (the source was updated or restarted since) or of a source being deleted quietly
stops. A ThirdPartyConfig error halts the source in `Error` until an update or a restart; other
errors are retried within the 90-minute window of `core.lifecycle.retry`.

A start asks Mimecast for a token only when the credential's cached token (shared with collection,
`core.mimecast.auth.TokenFlow`) is missing or near its expiry: the cache is keyed by the client id
and secret, so a changed secret or client id always asks again.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass

from celery import Task, shared_task

from core.engine.decisions import first_started
from core.errors import Refusal, SourceError
from core.lifecycle.failures import EVERY_COLLECTION, on_failure
from core.lifecycle.failures import START as START_PATH
from core.lifecycle.retry import FailureStreak
from core.lifecycle.states import State, StateError
from core.mimecast.auth import TokenFlow
from core.models import Credentials, SourceConfig
from core.store import keys
from core.store.outcomes import Busy
from core.store.sources import StoredSource
from tasks.chains import start_chains
from tasks.failures import resolve, show_failure
from worker.wiring import Services, services

log = logging.getLogger(__name__)

START = "tasks.lifecycle.start_source"
DELETE_SOURCE = "tasks.lifecycle.delete_source"
DELETE_COLLECTOR = "tasks.lifecycle.delete_collector"
REUSED = ": their cached token is still valid"
# Removal polls for in-flight work to end, backing off to this many seconds between looks.
POLL_CAP_SECONDS = 5.0


def hand_off_to_collection(svc: Services, source: StoredSource) -> list[str]:
    """Start the chain of each stream of the (now `Authenticated`) source at once, SIEM first (see
    `decisions.first_started`), and of its children that held a slot or take one now; the units
    started, in that order.

    Each unit is put in the due set `STREAM_HOLD_SECONDS` ahead before its chain is queued, as
    dispatch would claim it: a chain lost before it ran comes due again by itself, and no dispatch
    tick starts a second one meanwhile. So a new, updated or restarted source collects within
    moments, not at the next dispatch tick.

    A new generation starts clean: no halt, no failure streaks. Each stream reads on from its
    checkpoint (a new stream from its collection's lookback); the first page delivered moves the
    source to `Collecting` (`tasks/forward.py`).
    """
    svc.coordination.clear_halt(source.id)
    svc.streaks.clear_all(source.id)
    held = svc.clock.now().timestamp() + svc.settings.stream_hold_seconds
    streams = [keys.stream_of(source.id, c) for c in first_started(source.config.data_collection)]
    for place, stream in enumerate(streams):
        # A millisecond apart, in that order: should the chains be lost, dispatch starts SIEM's first.
        svc.coordination.schedule(stream, held + place / 1000)
    running = svc.coordination.resume_children(source.id, held)
    admitted = svc.coordination.pump(source.id, held, svc.settings.max_in_flight_per_source)
    started = [*streams, *running, *admitted]
    start_chains(started)
    log.info("source %s handed to collection: %s", source.id, ", ".join(source.config.data_collection))
    return started


@dataclass
class Start:
    """One start attempt of one source generation."""

    svc: Services
    source_id: str
    generation: int

    def run(self) -> float | None:
        """Walk the source as far as it goes; seconds until a retry, or None when done or halted."""
        source = self.svc.sources.get_optional(self.source_id)
        if source is None or source.status.generation != self.generation:
            log.info("start of source %s generation %s is stale; skipped", self.source_id, self.generation)
            return None
        if source.status.state is State.ERROR and not self._retrying(source):
            return None
        try:
            return self._walk(source)
        except Refusal as outcome:
            log.info("start of source %s stopped: %s", self.source_id, outcome)
            return None
        except SourceError as error:
            return self._failed(source, error)

    def _retrying(self, source: StoredSource) -> bool:
        error = source.status.error
        return error is not None and error.type.value != "ThirdPartyConfig"

    def _walk(self, source: StoredSource) -> float | None:
        state = source.status.state
        if state in (State.PENDING, State.ERROR):
            attempt = f" (attempt {source.status.failures + 1})" if state is State.ERROR else ""
            self._move(State.STARTED, f"start task picked it up{attempt}")
            state = State.STARTED
        if state is State.STARTED:
            self._move(State.INITIALIZED, f"plan: one stream per collection: {_plan(source.config)}")
            state = State.INITIALIZED
        if state is not State.INITIALIZED:
            return None  # another start of this generation is ahead of this one
        credentials = Credentials(source.config.client_id, self.svc.sources.secret(self.source_id))
        svc = self.svc
        cached = svc.tokens.get(credentials.key)
        TokenFlow(svc.tokens, svc.mimecast.request_token, svc.clock).token(credentials)
        reused = cached is not None and cached == svc.tokens.get(credentials.key)
        self._move(State.AUTHENTICATED, f"Mimecast accepted the credentials{REUSED if reused else ''}")
        resolve(self.svc, source)
        hand_off_to_collection(self.svc, source)
        return None

    def _move(
        self,
        target: State,
        reason: str,
        *,
        error: StateError | None = None,
        failures: tuple[float | None, int] | None = None,
    ) -> None:
        self.svc.sources.transition(
            self.source_id,
            target,
            self.svc.clock.now(),
            reason,
            error=error,
            failures=failures,
            expect_generation=self.generation,
        )
        log.info("source %s -> %s: %s", self.source_id, target.value, reason)

    def _failed(self, source: StoredSource, error: SourceError) -> float | None:
        """The same failure policy as collection (`core.lifecycle.failures`), with the source's own
        streak; seconds until the next attempt, or None when it stops."""
        now = self.svc.clock.now().timestamp()
        current = self.svc.sources.get_optional(self.source_id) or source
        streak = FailureStreak(current.status.first_failure, current.status.failures)
        outcome = on_failure(error, streak, now, random.random(), self.svc.policy, START_PATH)
        log.info("start of source %s: %s -> %s", self.source_id, error, outcome.reason)
        if outcome.stops:
            self.svc.coordination.halt(self.source_id, self.generation, EVERY_COLLECTION)
        show_failure(self.svc, current, error, outcome, START_PATH)
        return None if outcome.retry_at is None else max(outcome.retry_at - now, 0.5)


def _plan(config: SourceConfig) -> str:
    return ", ".join(config.data_collection)


def _poll_delay(retries: int) -> float:
    return float(min(POLL_CAP_SECONDS, 0.2 * 2**retries))


@shared_task(name=START, bind=True, ignore_result=True, max_retries=None)  # type: ignore[untyped-decorator]
def start_source(self: Task, source_id: str, generation: int) -> None:
    """Walk a new, updated or restarted source to `Authenticated` and hand it to collection."""
    wait = Start(services(), source_id, int(generation)).run()
    if wait is not None:
        raise self.retry(countdown=wait)


@shared_task(name=DELETE_SOURCE, bind=True, ignore_result=True, max_retries=None)  # type: ignore[untyped-decorator]
def delete_source(self: Task, source_id: str) -> None:
    """Remove a `Stopping` source once no work is in flight on it: config, secret, checkpoints, all."""
    svc = services()
    try:
        removed = svc.sources.remove(source_id, int(svc.clock.now().timestamp() * 1000))
    except Busy:
        raise self.retry(countdown=_poll_delay(self.request.retries)) from None
    log.info("source %s %s", source_id, "removed" if removed else "was already gone")


@shared_task(name=DELETE_COLLECTOR, bind=True, ignore_result=True, max_retries=None)  # type: ignore[untyped-decorator]
def delete_collector(self: Task, collector_id: str) -> None:
    """Remove a collector marked for deletion once its last source is gone."""
    if not services().collectors.remove(collector_id):
        raise self.retry(countdown=_poll_delay(self.request.retries))
    log.info("collector %s removed", collector_id)

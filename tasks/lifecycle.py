"""Lifecycle tasks: start a source (Pending -> Started -> Initialized -> Authenticated), delete it.

Messages carry ids only: the worker reads the config and the encrypted secret from Redis. Every
state change is a compare-and-set through the pure transition table, so a start of an older
generation (the source was updated or restarted since) or of a source being deleted quietly
stops. A ThirdPartyConfig error halts the source in `Error` until an update or a restart; other
errors are retried within the 90-minute window of `core.lifecycle.retry`.
"""

from __future__ import annotations

import logging
import random
import secrets
from dataclasses import dataclass

from celery import Task, shared_task

from core.errors import SourceError
from core.lifecycle import health
from core.lifecycle.retry import FailureStreak, Verdict, decide
from core.lifecycle.states import IllegalTransition, State, StateError
from core.models import Credentials, SourceConfig
from core.store import keys
from core.store.outcomes import Busy, NotFound, StaleVersion
from core.store.sources import StoredSource
from worker.wiring import Services, services

log = logging.getLogger(__name__)

START = "tasks.lifecycle.start_source"
DELETE_SOURCE = "tasks.lifecycle.delete_source"
DELETE_COLLECTOR = "tasks.lifecycle.delete_collector"
# Removal polls for in-flight work to end, backing off to this many seconds between looks.
POLL_CAP_SECONDS = 5.0


def hand_off_to_collection(svc: Services, source: StoredSource) -> None:
    """Put each stream of the (now `Authenticated`) source in the due set, due at once.

    A new generation starts clean: no halt, no failure streaks. Each stream reads on from its
    checkpoint (a new stream from its collection's lookback); the first page delivered moves the
    source to `Collecting` (`tasks/collection.py`).
    """
    svc.collection.clear_all(source.id)
    now = svc.clock.now().timestamp()
    for collection in source.config.data_collection:
        svc.streams.schedule(keys.stream_of(source.id, collection), now)
    log.info("source %s handed to collection: %s", source.id, ", ".join(source.config.data_collection))


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
        except (StaleVersion, IllegalTransition, NotFound) as outcome:
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
        token = self.svc.mimecast.request_token(credentials)
        left = token.expires_at - self.svc.clock.now().timestamp()
        self.svc.tokens.put(credentials.key, token, max(left, 1.0))
        self._move(State.AUTHENTICATED, "Mimecast accepted the credentials")
        self._resolve(source)
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
        now = self.svc.clock.now()
        current = self.svc.sources.get_optional(self.source_id) or source
        streak = FailureStreak(current.status.first_failure, current.status.failures)
        decision = decide(error, streak, now.timestamp(), random.random(), self.svc.policy)
        if decision.verdict is Verdict.RETRY and not error.counts_as_failure:
            log.info(
                "source %s throttled at start; waiting %.0fs", self.source_id, decision.at - now.timestamp()
            )
            return max(decision.at - now.timestamp(), 0.5)
        final = decision.verdict is not Verdict.RETRY
        state_error = StateError.of(error)
        why = {Verdict.HALT: "halted until an update or a restart", Verdict.GIVE_UP: "retry window ran out"}
        reason = f"{error.error_type.value}: {why.get(decision.verdict, 'will retry')}"
        try:
            self._move(
                State.ERROR,
                reason,
                error=state_error,
                failures=(decision.streak.first_at, decision.streak.attempts),
            )
        except (StaleVersion, IllegalTransition, NotFound):
            return None
        self._open_event(current, state_error, final=final)
        return max(decision.at - now.timestamp(), 0.5) if not final else None

    def _identity(self, source: StoredSource) -> health.ResourceIdentity:
        try:
            collector_name = self.svc.collectors.get(source.collector_id).config.name
        except NotFound:
            collector_name = ""
        return health.ResourceIdentity(source.collector_id, collector_name, source.id, source.config.name)

    def _open_event(self, source: StoredSource, error: StateError, *, final: bool) -> None:
        open_now = self.svc.health.open_events_of(source.id)
        event = health.problem(
            error,
            self._identity(source),
            self.svc.clock.now(),
            _event_id(),
            open_events=open_now,
            final=final,
        )
        self.svc.health.open(event)

    def _resolve(self, source: StoredSource) -> None:
        open_now = self.svc.health.open_events_of(source.id)
        healthy = health.recovery(open_now, self._identity(source), self.svc.clock.now(), _event_id())
        if healthy is not None:
            self.svc.health.resolve(healthy)


def _plan(config: SourceConfig) -> str:
    return ", ".join(config.data_collection)


def _event_id() -> str:
    return secrets.token_hex(8).upper()


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

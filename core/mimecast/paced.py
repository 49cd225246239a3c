"""Calls to Mimecast within the application's shared rate budget: one check before, one note after.

`PacedCaller` stands between a `Session` and the HTTP client. Before each call it reads the shared
budget of its client id and endpoint (`Budgets`: Redis in a deployment, `MemoryBudgets` in tests),
asks `pacing.earliest` when the call may go, and either goes (counting the call against the budget,
so that other units pace from it), waits a moment in place (up to `inline_wait` seconds), or raises
`Paced` so that the executor reschedules the unit instead of holding a worker. After the call it
records what the answer's `X-RateLimit-*` headers say. It decides nothing itself.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

from core.clock import Clock
from core.mimecast import pacing
from core.mimecast.auth import ApiCaller
from core.mimecast.pacing import Budget, Paced, Reading
from core.models import KEPT_HEADERS, JsonObject, Request

# A wait this short is spent in place; a longer one hands the unit back to the schedule.
INLINE_WAIT_SECONDS = 1.0
# Tries to claim a paced call while other units claim it too, before stepping aside.
CLAIM_TRIES = 3
STEP_ASIDE_SECONDS = 1.0

# endpoint, seconds waited (or to wait), and whether the unit was rescheduled (else it waited in place)
WaitHook = Callable[[str, float, bool], None]


class Budgets(Protocol):
    """The shared budgets, keyed by client id and endpoint path."""

    def reading(self, client_id: str, endpoint: str) -> Reading: ...

    def swap(self, client_id: str, endpoint: str, version: int, budget: Budget) -> bool:
        """Store `budget` if the stored version is still `version` (else False, nothing written)."""


class MemoryBudgets:
    """The in-memory twin of the Redis budgets (`core/store/throttle.py`)."""

    def __init__(self) -> None:
        self._budgets: dict[tuple[str, str], tuple[Budget, int]] = {}
        self._pauses: dict[tuple[str, str], float] = {}
        self._mutex = threading.Lock()

    def reading(self, client_id: str, endpoint: str) -> Reading:
        with self._mutex:
            budget, version = self._budgets.get((client_id, endpoint), (None, 0))
            return Reading(budget, version, self._pauses.get((client_id, endpoint)))

    def swap(self, client_id: str, endpoint: str, version: int, budget: Budget) -> bool:
        with self._mutex:
            if self._budgets.get((client_id, endpoint), (None, 0))[1] != version:
                return False
            self._budgets[(client_id, endpoint)] = (budget, version + 1)
            return True

    def pause(self, client_id: str, endpoint: str, until: float) -> None:
        with self._mutex:
            self._pauses[(client_id, endpoint)] = max(until, self._pauses.get((client_id, endpoint), 0.0))


class PacedCaller:
    """An `ApiCaller` for one client id that keeps to the application's shared rate budget."""

    def __init__(
        self,
        caller: ApiCaller,
        budgets: Budgets,
        clock: Clock,
        client_id: str,
        *,
        share: float = pacing.DEFAULT_SHARE,
        inline_wait: float = INLINE_WAIT_SECONDS,
        on_wait: WaitHook | None = None,
    ) -> None:
        self._caller = caller
        self._budgets = budgets
        self._clock = clock
        self._client_id = client_id
        self._share = share
        self._inline_wait = inline_wait
        self._on_wait = on_wait

    def call(self, request: Request, token: str) -> JsonObject:
        admitted = self._admit(request.path)
        asked = replace(request, keep_headers=(*request.keep_headers, *pacing.HEADERS))
        body = self._caller.call(asked, token)
        kept = body.pop(KEPT_HEADERS, None)
        headers = kept if isinstance(kept, dict) else {}
        if request.keep_headers:
            wanted = {name.lower() for name in request.keep_headers}
            body[KEPT_HEADERS] = {name: value for name, value in headers.items() if name in wanted}
        seen = pacing.budget_of(headers, self._now())
        if seen is not None:
            self._record(request.path, seen, admitted)
        return body

    def _now(self) -> float:
        return self._clock.now().timestamp()

    def _admit(self, endpoint: str) -> Reading | None:
        """Return when the call may go (claimed against the budget); raise `Paced` otherwise. What
        the budget became by this claim, if this claim wrote it (a hint for `_record`)."""
        for _ in range(CLAIM_TRIES):
            now = self._now()
            reading = self._budgets.reading(self._client_id, endpoint)
            at = pacing.earliest(reading, now, self._share)
            if at > now:
                wait = at - now
                if wait > self._inline_wait:
                    self._waited(endpoint, wait, rescheduled=True)
                    raise Paced(endpoint, at, wait)
                self._clock.sleep(wait)
                self._waited(endpoint, wait, rescheduled=False)
                now = self._now()
                reading = self._budgets.reading(self._client_id, endpoint)
                if pacing.earliest(reading, now, self._share) > now:
                    continue  # another unit took the moment
            after = pacing.spent(reading.budget, now)
            if after is None:
                return None
            if self._budgets.swap(self._client_id, endpoint, reading.version, after):
                return Reading(after, reading.version + 1, reading.paused_until)
            stated = reading.budget
            if stated is not None and stated.remaining > pacing.few(stated, self._share):
                return None  # plenty left: a lost race over the count costs nothing
        until = self._now() + STEP_ASIDE_SECONDS
        self._waited(endpoint, STEP_ASIDE_SECONDS, rescheduled=True)
        raise Paced(endpoint, until, STEP_ASIDE_SECONDS)

    def _record(self, endpoint: str, seen: Budget, admitted: Reading | None = None) -> None:
        """Store the budget an answer stated, if newer than the stored one. First, without reading,
        against what this call's claim stored (`admitted`), which holds unless another call wrote
        since; only a fresh reading decides to keep the stored budget."""
        if (
            admitted is not None
            and pacing.newer(admitted.budget, seen)
            and self._budgets.swap(self._client_id, endpoint, admitted.version, seen)
        ):
            return
        for _ in range(CLAIM_TRIES):
            reading = self._budgets.reading(self._client_id, endpoint)
            if not pacing.newer(reading.budget, seen):
                return
            if self._budgets.swap(self._client_id, endpoint, reading.version, seen):
                return

    def _waited(self, endpoint: str, seconds: float, *, rescheduled: bool) -> None:
        if self._on_wait is not None:
            self._on_wait(endpoint, seconds, rescheduled)

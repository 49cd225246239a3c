"""One failure policy for every path that calls Mimecast: a source's start and each of its
collections.

Pure: the error, the failure streak so far and the time go in; what to do comes out: retry at a
time, or stop (a configuration error halts at once; the 90-minute window ran out), what stops (the
collection that met the error; every collection for refused credentials or a failed start),
whether the source shows it (state `Error` and a health event; throttling does neither unless it
outlasts the window), how severe it is, and the reason its state history records.

A source has one state: `Error` while any collection is in error. `shown` picks which collection's
failure that state names, and `reshown` what it names once one of several failing collections
delivers again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from core.errors import SourceError
from core.lifecycle.retry import FailureStreak, RetryPolicy, Verdict, decide
from core.lifecycle.states import StateError

START = "start"  # where a start's failures happen: the source as a whole
EVERY_COLLECTION = "*"  # a halt of every collection of the source

_WHY = {
    Verdict.RETRY: "will retry",
    Verdict.HALT: "halted until an update or a restart",
    Verdict.GIVE_UP: "the retry window ran out: stopped until an update or a restart",
}


@dataclass(frozen=True)
class FailureOutcome:
    retry_at: float | None  # when to try again; None: stop until an update or a restart
    streak: FailureStreak  # to keep until the next success
    shown: bool  # the source moves to Error and a health event opens
    final: bool  # the event's severity is Error (stopped), not Warning (retrying)
    reason: str  # what the state history says
    halts: str | None  # what stops: a collection, EVERY_COLLECTION, or None (it retries)

    @property
    def stops(self) -> bool:
        return self.retry_at is None


def on_failure(
    error: SourceError, streak: FailureStreak, now: float, jitter: float, policy: RetryPolicy, where: str
) -> FailureOutcome:
    """The contract's table for an error met in `where` (`start`, or a collection's name).

    A collection's streak, retries and 90-minute window are its own: when it stops, only it halts.
    Refused credentials (`source_wide`) and a start that stops halt every collection.
    """
    decision = decide(error, streak, now, jitter, policy)
    retrying = decision.verdict is Verdict.RETRY
    every = error.source_wide or where == START
    why = _WHY[decision.verdict]
    if not retrying and every and where != START:
        why = f"the credentials were refused: every collection {why}"
    halts = None if retrying else EVERY_COLLECTION if every else where
    return FailureOutcome(
        retry_at=decision.at if retrying else None,
        streak=decision.streak,
        shown=error.counts_as_failure or not retrying,
        final=not retrying,
        reason=f"{error.error_type.value} in {where}: {why}",
        halts=halts,
    )


def halted(halts: Mapping[str, int], collection: str, generation: int) -> bool:
    """Whether `collection` is halted in this generation (by its own halt or one of every collection);
    a halt of an older generation was lifted by the update or restart that began this one."""
    return any(halts.get(scope, 0) >= generation for scope in (collection, EVERY_COLLECTION))


@dataclass(frozen=True)
class Failing:
    """A collection in error, as its failure streak remembers it until it delivers again (or an
    update or a restart starts over)."""

    error: StateError  # `collection` names it
    stopped: bool  # halted, or its window ran out: no retry until an update or a restart
    at: float  # when it last failed (epoch s)

    def to_json(self) -> dict[str, object]:
        return {"error": self.error.to_json(), "stopped": self.stopped, "at": self.at}

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Failing:
        error = data["error"]
        if not isinstance(error, dict):
            raise ValueError("a failing collection needs its error")
        at = data.get("at", 0.0)
        return cls(
            StateError.from_json(error),
            bool(data.get("stopped")),
            float(at) if isinstance(at, int | float) else 0.0,
        )


def shown(failing: Sequence[Failing]) -> Failing | None:
    """The failure the source's one state names: a stopped collection before one still retried,
    then the latest; None when nothing fails."""
    return max(failing, key=lambda one: (one.stopped, one.at), default=None)


def by_collection(failing: Sequence[Failing]) -> dict[str, Failing]:
    """Each failing collection and the failure it shows (of its units: see `shown`)."""
    found: dict[str, list[Failing]] = {}
    for one in failing:
        if one.error.collection is not None:
            found.setdefault(one.error.collection, []).append(one)
    return {name: picked for name, units in found.items() if (picked := shown(units)) is not None}


def collections(failing: Sequence[Failing]) -> tuple[str, ...]:
    """The failing collections by name, each once, in order."""
    return tuple(sorted({one.error.collection for one in failing if one.error.collection is not None}))


def failure_reason(outcome: FailureOutcome, failing: Sequence[Failing], where: str) -> str:
    """The history's reason for a failure: the outcome's, and which other collections fail too."""
    others = [name for name in collections(failing) if name != where]
    return outcome.reason if not others else f"{outcome.reason}; also failing: {', '.join(others)}"


def news(current: StateError | None, in_error: bool, showing: StateError, stops: bool) -> bool:
    """Whether a collection's failure moves the source's state (a history entry): it enters Error,
    names another error, or a collection stops. Another retry of the error already shown only
    refreshes its health event, so retries do not push older entries out of the history."""
    return not in_error or current != showing or stops


def reshown(
    current: StateError | None, remaining: Sequence[Failing], recovered: str
) -> tuple[StateError, str] | None:
    """After `recovered` delivered a page while others still fail: the error the state names now,
    and the reason; None when the state already names the right one (or nothing fails any more)."""
    now = shown(remaining)
    if now is None or now.error == current:
        return None
    still = ", ".join(collections(remaining))
    return now.error, f"{recovered} collects again; still failing: {still}"

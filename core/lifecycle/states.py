"""Source states and the one table of legal transitions. Pure: no I/O here.

`Pending` (stored) -> `Started` (a start task picked it up) -> `Initialized` (its plan is built)
-> `Authenticated` (Mimecast accepted the credentials) -> `Collecting` (a page was committed).
Any of them can fall into `Error`; an update or a restart sends any of them back to `Pending`;
delete moves any of them to `Stopping`, from which the only way out is removal.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from core.errors import ErrorType, Refusal, SourceError


class State(StrEnum):
    """The states a source shows; the values are the names the product reference uses."""

    PENDING = "Pending"
    STARTED = "Started"
    INITIALIZED = "Initialized"
    AUTHENTICATED = "Authenticated"
    COLLECTING = "Collecting"
    ERROR = "Error"
    STOPPING = "Stopping"


_RESTARTABLE = frozenset(State) - {State.STOPPING}

# from-state -> the states it may move to. Restart/update (-> Pending) and delete (-> Stopping)
# are open from every live state; Error -> Started is a start retry, Error -> Authenticated or
# Collecting is a recovery; Error -> Error replaces the error detail.
TRANSITIONS: dict[State, frozenset[State]] = {
    State.PENDING: frozenset({State.STARTED, State.ERROR, State.PENDING, State.STOPPING}),
    State.STARTED: frozenset({State.INITIALIZED, State.ERROR, State.PENDING, State.STOPPING}),
    State.INITIALIZED: frozenset({State.AUTHENTICATED, State.ERROR, State.PENDING, State.STOPPING}),
    State.AUTHENTICATED: frozenset({State.COLLECTING, State.ERROR, State.PENDING, State.STOPPING}),
    State.COLLECTING: frozenset({State.COLLECTING, State.ERROR, State.PENDING, State.STOPPING}),
    State.ERROR: frozenset(
        {State.STARTED, State.AUTHENTICATED, State.COLLECTING, State.ERROR, State.PENDING, State.STOPPING}
    ),
    State.STOPPING: frozenset(),
}


class IllegalTransition(Refusal):
    """A move the transition table does not allow; refused, nothing is written."""

    def __init__(self, current: State, target: State) -> None:
        super().__init__(f"a source cannot go from {current.value} to {target.value}")
        self.current = current
        self.target = target


@dataclass(frozen=True)
class StateError:
    """The error attached to a source in `Error`: its type, upstream status, a safe message, and
    the collection that met it (None: the source as a whole, at its start)."""

    type: ErrorType
    message: str
    code: int | None = None
    collection: str | None = None

    @classmethod
    def of(cls, error: SourceError, collection: str | None = None) -> StateError:
        return cls(type=error.error_type, message=error.summary, code=error.status, collection=collection)

    def to_json(self) -> dict[str, object]:
        shown: dict[str, object] = {"type": self.type.value, "code": self.code, "message": self.message}
        if self.collection is not None:
            shown["collection"] = self.collection
        return shown

    @classmethod
    def from_json(cls, data: dict[str, object]) -> StateError:
        code = data.get("code")
        collection = data.get("collection")
        return cls(
            type=ErrorType(str(data["type"])),
            message=str(data.get("message", "")),
            code=int(code) if isinstance(code, int) else None,
            collection=str(collection) if collection is not None else None,
        )


@dataclass(frozen=True)
class SourceStatus:
    """Where a source stands. `epoch` counts transitions (compare-and-set); `generation` counts
    starts (create, update, restart), so a start task of an older generation knows it is stale."""

    state: State
    since: datetime
    generation: int = 1
    epoch: int = 0
    error: StateError | None = None
    first_failure: float | None = None
    failures: int = 0


@dataclass(frozen=True)
class HistoryEntry:
    """One recorded transition: the state entered, when, why, and the error if it is `Error`."""

    state: State
    time: datetime
    reason: str
    error: StateError | None = None

    def to_json(self) -> dict[str, object]:
        entry: dict[str, object] = {
            "state": self.state.value,
            "time": self.time.isoformat(),
            "reason": self.reason,
        }
        if self.error is not None:
            entry["error"] = self.error.to_json()
        return entry


def can_move(current: State, target: State) -> bool:
    return target in TRANSITIONS[current]


def restartable(state: State) -> bool:
    """An update or restart is accepted in every state but `Stopping`."""
    return state in _RESTARTABLE


def move(
    status: SourceStatus,
    target: State,
    now: datetime,
    reason: str,
    *,
    error: StateError | None = None,
) -> tuple[SourceStatus, HistoryEntry]:
    """The status after moving to `target`, and its history entry; IllegalTransition if refused.

    Entering `Pending` starts a new generation and forgets the failure streak; entering `Error`
    needs an error; leaving `Error` for anything but `Error` or `Started` (a retry) clears it.
    """
    if not can_move(status.state, target):
        raise IllegalTransition(status.state, target)
    if target is State.ERROR and error is None:
        raise ValueError("entering Error needs the error that caused it")
    if target is State.PENDING:
        moved = SourceStatus(
            state=target, since=now, generation=status.generation + 1, epoch=status.epoch + 1
        )
    else:
        keep_streak = target in (State.ERROR, State.STARTED, State.INITIALIZED)
        moved = replace(
            status,
            state=target,
            since=now,
            epoch=status.epoch + 1,
            error=error if target is State.ERROR else None,
            first_failure=status.first_failure if keep_streak else None,
            failures=status.failures if keep_streak else 0,
        )
    return moved, HistoryEntry(state=target, time=now, reason=reason, error=moved.error)


def bounded(history: tuple[HistoryEntry, ...], entry: HistoryEntry, limit: int) -> tuple[HistoryEntry, ...]:
    """The history with `entry` added first (newest first), cut to the `limit` newest entries."""
    if limit < 1:
        raise ValueError("a history keeps at least one entry")
    return ((entry, *history))[:limit]


def status_to_json(status: SourceStatus) -> dict[str, object]:
    """The stored form of a status (not what the API shows: see `public_state`)."""
    return {
        "state": status.state.value,
        "since": status.since.isoformat(),
        "generation": status.generation,
        "epoch": status.epoch,
        "error": status.error.to_json() if status.error is not None else None,
        "firstFailure": status.first_failure,
        "failures": status.failures,
    }


def status_from_json(data: dict[str, object]) -> SourceStatus:
    error = data.get("error")
    first = data.get("firstFailure")
    return SourceStatus(
        state=State(str(data["state"])),
        since=datetime.fromisoformat(str(data["since"])),
        generation=int(str(data.get("generation", 1))),
        epoch=int(str(data.get("epoch", 0))),
        error=StateError.from_json(error) if isinstance(error, dict) else None,
        first_failure=float(first) if isinstance(first, int | float) else None,
        failures=int(str(data.get("failures", 0))),
    )


def public_state(status: SourceStatus) -> dict[str, object]:
    """The `state` object of the source JSON: state, since and (in `Error`) the error."""
    shown: dict[str, object] = {"state": status.state.value, "since": _iso(status.since)}
    if status.error is not None:
        shown["error"] = status.error.to_json()
    return shown


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")

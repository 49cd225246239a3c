"""The source lifecycle: one table of legal moves, generations, errors and a bounded history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.errors import ErrorType, SourceError, ThirdPartyConfigError
from core.lifecycle.states import (
    TRANSITIONS,
    HistoryEntry,
    IllegalTransition,
    SourceStatus,
    State,
    StateError,
    bounded,
    move,
    public_state,
    restartable,
    status_from_json,
    status_to_json,
)

T0 = datetime(2024, 6, 1, tzinfo=UTC)
CONFIG_ERROR = StateError(ErrorType.THIRD_PARTY_CONFIG, "Client credentials are invalid", 401)


def at(state: State, **fields: object) -> SourceStatus:
    return SourceStatus(state=state, since=T0, **fields)  # type: ignore[arg-type]


HAPPY_PATH = [State.PENDING, State.STARTED, State.INITIALIZED, State.AUTHENTICATED, State.COLLECTING]


def test_a_new_source_walks_pending_started_initialized_authenticated_collecting() -> None:
    status = at(State.PENDING)
    for target in HAPPY_PATH[1:]:
        status, entry = move(status, target, T0, "next")
        assert entry.state is target
    assert status.state is State.COLLECTING
    assert status.epoch == 4


@pytest.mark.parametrize("state", [s for s in State if s is not State.STOPPING])
def test_every_live_state_can_fall_into_error_be_restarted_or_be_deleted(state: State) -> None:
    assert move(at(state), State.ERROR, T0, "boom", error=CONFIG_ERROR)[0].state is State.ERROR
    assert move(at(state), State.PENDING, T0, "restart")[0].state is State.PENDING
    assert move(at(state), State.STOPPING, T0, "delete")[0].state is State.STOPPING
    assert restartable(state)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (State.PENDING, State.INITIALIZED),  # no skipping steps
        (State.PENDING, State.AUTHENTICATED),
        (State.PENDING, State.COLLECTING),
        (State.STARTED, State.AUTHENTICATED),
        (State.STARTED, State.STARTED),
        (State.INITIALIZED, State.COLLECTING),
        (State.AUTHENTICATED, State.STARTED),
        (State.COLLECTING, State.STARTED),
        (State.ERROR, State.INITIALIZED),
        (State.STOPPING, State.PENDING),  # Stopping is final: only removal follows
        (State.STOPPING, State.ERROR),
        (State.STOPPING, State.STOPPING),
    ],
)
def test_an_illegal_transition_is_refused(current: State, target: State) -> None:
    with pytest.raises(IllegalTransition) as refused:
        move(at(current), target, T0, "no", error=CONFIG_ERROR)
    assert refused.value.current is current
    assert refused.value.target is target
    assert not isinstance(refused.value, SourceError)  # a refusal, never a failure of the source


def test_the_table_names_every_state() -> None:
    assert set(TRANSITIONS) == set(State)
    assert TRANSITIONS[State.STOPPING] == frozenset()


def test_entering_error_needs_the_error_and_keeps_it() -> None:
    with pytest.raises(ValueError, match="needs the error"):
        move(at(State.STARTED), State.ERROR, T0, "boom")
    status, entry = move(at(State.INITIALIZED), State.ERROR, T0, "boom", error=CONFIG_ERROR)
    assert status.error == CONFIG_ERROR
    assert entry.error == CONFIG_ERROR


def test_a_restart_starts_a_new_generation_and_forgets_the_error_and_the_failure_streak() -> None:
    failed = at(State.ERROR, error=CONFIG_ERROR, generation=3, first_failure=100.0, failures=4)
    status, _ = move(failed, State.PENDING, T0 + timedelta(minutes=1), "restarted")
    assert status.generation == 4
    assert status.error is None
    assert status.first_failure is None
    assert status.failures == 0
    assert status.since == T0 + timedelta(minutes=1)


def test_a_retry_from_error_keeps_the_failure_streak_until_authenticated() -> None:
    failed = at(State.ERROR, error=CONFIG_ERROR, first_failure=100.0, failures=2)
    started, _ = move(failed, State.STARTED, T0, "retry")
    assert (started.first_failure, started.failures, started.error) == (100.0, 2, None)
    initialized, _ = move(started, State.INITIALIZED, T0, "plan")
    authenticated, _ = move(initialized, State.AUTHENTICATED, T0, "ok")
    assert (authenticated.first_failure, authenticated.failures) == (None, 0)


def test_the_history_is_newest_first_and_bounded() -> None:
    history: tuple[HistoryEntry, ...] = ()
    for minute in range(5):
        history = bounded(history, HistoryEntry(State.PENDING, T0 + timedelta(minutes=minute), "x"), limit=3)
    assert [entry.time.minute for entry in history] == [4, 3, 2]
    with pytest.raises(ValueError, match="at least one"):
        bounded(history, history[0], limit=0)


def test_the_stored_form_round_trips() -> None:
    status = at(State.ERROR, error=CONFIG_ERROR, generation=2, epoch=7, first_failure=5.5, failures=1)
    assert status_from_json(status_to_json(status)) == status


def test_the_api_shows_state_since_and_the_error_with_type_code_and_message() -> None:
    status = at(
        State.ERROR, error=StateError.of(ThirdPartyConfigError("Client credentials are invalid", status=401))
    )
    assert public_state(status) == {
        "state": "Error",
        "since": "2024-06-01T00:00:00Z",
        "error": {"type": "ThirdPartyConfig", "code": 401, "message": "Client credentials are invalid"},
    }
    assert public_state(at(State.PENDING)) == {"state": "Pending", "since": "2024-06-01T00:00:00Z"}


def test_an_error_met_by_one_collection_names_it_in_the_api_and_in_the_stored_form() -> None:
    failed = StateError.of(ThirdPartyConfigError("Forbidden", status=403), "holdMessageList")
    status = at(State.ERROR, error=failed)
    assert public_state(status)["error"] == {
        "type": "ThirdPartyConfig",
        "code": 403,
        "message": "Forbidden",
        "collection": "holdMessageList",
    }
    assert status_from_json(status_to_json(status)) == status

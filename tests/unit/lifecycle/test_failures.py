"""One failure policy for the start and the collection paths: the contract's table."""

from __future__ import annotations

import pytest

from core.errors import (
    CredentialsRejected,
    ErrorType,
    FirstPartyGenericError,
    RateLimited,
    Refusal,
    SourceError,
    ThirdPartyConfigError,
    ThirdPartyGenericError,
)
from core.lifecycle.failures import (
    EVERY_COLLECTION,
    START,
    Failing,
    collections,
    failure_reason,
    halted,
    news,
    on_failure,
    reshown,
    shown,
)
from core.lifecycle.retry import FailureStreak, RetryPolicy
from core.lifecycle.states import IllegalTransition, State, StateError
from core.store.coordination import StaleCommit
from core.store.outcomes import NotFound, StaleVersion

POLICY = RetryPolicy(window_seconds=5400, base_seconds=5, cap_seconds=300)


@pytest.mark.parametrize(
    ("error", "streak", "now", "stops", "shown", "final"),
    [
        (ThirdPartyConfigError("401", status=401), FailureStreak(), 10, True, True, True),
        (ThirdPartyGenericError("503", status=503), FailureStreak(), 10, False, True, False),
        (FirstPartyGenericError("sink down"), FailureStreak(0, 3), 5399, False, True, False),
        (FirstPartyGenericError("sink down"), FailureStreak(0, 30), 5400, True, True, True),
        (RateLimited("429", wait_seconds=7), FailureStreak(), 10, False, False, False),
        (RateLimited("429", wait_seconds=7), FailureStreak(0, 0), 5400, True, True, True),
    ],
)
def test_failures_follow_the_contracts_table(
    error: SourceError, streak: FailureStreak, now: float, stops: bool, shown: bool, final: bool
) -> None:
    outcome = on_failure(error, streak, now, 0.5, POLICY, "dlp")
    assert (outcome.stops, outcome.shown, outcome.final) == (stops, shown, final)


def test_throttling_waits_out_the_reset_without_growing_the_backoff() -> None:
    outcome = on_failure(RateLimited("429", wait_seconds=7), FailureStreak(), 10, 0.5, POLICY, "dlp")
    assert outcome.retry_at == 17
    assert outcome.streak.attempts == 0


def test_the_reason_names_where_the_error_was_met_and_what_happens_next() -> None:
    unavailable = ThirdPartyGenericError("503", status=503)
    retry = on_failure(unavailable, FailureStreak(), 10, 0.5, POLICY, "auditEvent")
    halt = on_failure(ThirdPartyConfigError("403", status=403), FailureStreak(), 10, 0.5, POLICY, "start")
    assert retry.reason == "ThirdPartyGeneric in auditEvent: will retry"
    assert halt.reason == "ThirdPartyConfig in start: halted until an update or a restart"


def test_generic_errors_back_off_within_the_window_and_never_past_it() -> None:
    first = on_failure(ThirdPartyGenericError("503"), FailureStreak(), 100, 0.0, POLICY, "siem")
    assert first.retry_at == 100 + 2.5
    assert first.streak == FailureStreak(100, 1)
    late = on_failure(ThirdPartyGenericError("503"), FailureStreak(0, 40), 5390, 0.99, POLICY, "siem")
    assert late.retry_at == 5400  # capped at the window's end, where the next failure stops


@pytest.mark.parametrize(
    "refusal",
    [
        StaleVersion("stale"),
        StaleCommit("stale"),
        NotFound("gone"),
        IllegalTransition(State.STOPPING, State.ERROR),
    ],
)
def test_a_lost_race_is_a_refusal_and_never_a_source_error(refusal: Exception) -> None:
    assert isinstance(refusal, Refusal)
    assert not isinstance(refusal, SourceError)  # so no failure path can ever halt a source on it


# One collection's failure stays its own: what stops, and what the source's one state names.

GENERIC = ErrorType.THIRD_PARTY_GENERIC


@pytest.mark.parametrize(
    ("error", "now", "where", "halts"),
    [
        (ThirdPartyGenericError("503", status=503), 10, "auditEvent", None),  # retried: nothing halts
        (ThirdPartyGenericError("503", status=503), 5400, "auditEvent", "auditEvent"),  # window ran out
        (ThirdPartyConfigError("403", status=403), 10, "siem", "siem"),  # a permission: that endpoint
        (CredentialsRejected("401", status=401), 10, "dlp", EVERY_COLLECTION),  # the credentials: all
        (ThirdPartyConfigError("401", status=401), 10, START, EVERY_COLLECTION),  # a start: all
        (ThirdPartyGenericError("503", status=503), 5400, START, EVERY_COLLECTION),
    ],
)
def test_a_collection_that_stops_halts_alone_unless_the_credentials_or_the_start_failed(
    error: SourceError, now: float, where: str, halts: str | None
) -> None:
    outcome = on_failure(error, FailureStreak(0, 3), now, 0.5, POLICY, where)
    assert outcome.halts == halts
    assert outcome.stops is (halts is not None)


def test_refused_credentials_say_every_collection_stops() -> None:
    outcome = on_failure(CredentialsRejected("401", status=401), FailureStreak(), 10, 0.5, POLICY, "dlp")
    assert outcome.reason == (
        "ThirdPartyConfig in dlp: the credentials were refused: "
        "every collection halted until an update or a restart"
    )


@pytest.mark.parametrize(
    ("collection", "halts", "generation", "expected"),
    [
        ("dlp", {}, 2, False),
        ("dlp", {"auditEvent": 2}, 2, False),
        ("auditEvent", {"auditEvent": 2}, 2, True),
        ("dlp", {EVERY_COLLECTION: 2}, 2, True),
        ("auditEvent", {"auditEvent": 1, EVERY_COLLECTION: 1}, 2, False),  # lifted by a restart
    ],
)
def test_a_halt_holds_its_collection_or_every_one_in_its_generation_only(
    collection: str, halts: dict[str, int], generation: int, expected: bool
) -> None:
    assert halted(halts, collection, generation) is expected


def failing(collection: str, at: float, stopped: bool = False, code: int = 503) -> Failing:
    return Failing(StateError(GENERIC, f"{code} in {collection}", code, collection), stopped, at)


def test_the_state_names_a_stopped_collection_before_one_still_retried_then_the_latest() -> None:
    audit, dlp, siem = failing("auditEvent", 10), failing("dlp", 20), failing("siem", 5, stopped=True)
    assert shown([]) is None
    assert shown([audit, dlp]) == dlp
    assert shown([audit, dlp, siem]) == siem
    assert collections([dlp, siem, audit, failing("dlp", 30)]) == ("auditEvent", "dlp", "siem")


def test_the_history_reason_names_the_other_collections_failing_too() -> None:
    outcome = on_failure(ThirdPartyGenericError("503", status=503), FailureStreak(), 10, 0.5, POLICY, "dlp")
    assert failure_reason(outcome, [failing("dlp", 10)], "dlp") == "ThirdPartyGeneric in dlp: will retry"
    both = [failing("dlp", 10), failing("auditEvent", 5)]
    assert (
        failure_reason(outcome, both, "dlp")
        == "ThirdPartyGeneric in dlp: will retry; also failing: auditEvent"
    )


def test_when_one_of_two_failing_collections_collects_again_the_state_names_the_other() -> None:
    audit, dlp = failing("auditEvent", 10), failing("dlp", 20)
    # dlp was shown; it delivered a page, so only audit remains.
    assert reshown(dlp.error, [audit], "dlp") == (
        audit.error,
        "dlp collects again; still failing: auditEvent",
    )
    # audit delivered while dlp (shown) still fails: nothing to change.
    assert reshown(dlp.error, [dlp], "auditEvent") is None
    # The last one recovered: the source leaves Error (see `after_commit`), nothing to reshow.
    assert reshown(dlp.error, [], "dlp") is None


def test_a_failing_collection_round_trips_through_json() -> None:
    one = failing("holdMessageList", 12.5, stopped=True, code=403)
    assert Failing.from_json(one.to_json()) == one
    assert one.to_json()["error"] == {
        "type": "ThirdPartyGeneric",
        "code": 403,
        "message": "403 in holdMessageList",
        "collection": "holdMessageList",
    }


@pytest.mark.parametrize(
    ("in_error", "current", "stops", "expected"),
    [
        (False, None, False, True),  # the source enters Error
        (True, "auditEvent", False, False),  # another retry of what is shown: the event is refreshed only
        (True, "auditEvent", True, True),  # the collection quits: news
        (True, "dlp", False, True),  # the state names another error now
    ],
)
def test_only_news_moves_the_state_so_retries_do_not_flood_the_history(
    in_error: bool, current: str | None, stops: bool, expected: bool
) -> None:
    showing = failing("auditEvent", 10).error
    before = failing(current, 5).error if current is not None else None
    assert news(before, in_error, showing, stops) is expected

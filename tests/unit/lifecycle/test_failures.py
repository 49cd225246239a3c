"""One failure policy for the start and the collection paths: the contract's table."""

from __future__ import annotations

import pytest

from core.errors import (
    FirstPartyGenericError,
    RateLimited,
    Refusal,
    SourceError,
    ThirdPartyConfigError,
    ThirdPartyGenericError,
)
from core.lifecycle.failures import on_failure
from core.lifecycle.retry import FailureStreak, RetryPolicy
from core.lifecycle.states import IllegalTransition, State
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

"""The retry policy: halt on configuration errors, back off on generic ones, give up after 90 minutes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import FirstPartyGenericError, RateLimited, ThirdPartyConfigError, ThirdPartyGenericError
from core.lifecycle.retry import Decision, FailureStreak, RetryPolicy, Verdict, decide

POLICY = RetryPolicy(window_seconds=5400, base_seconds=5, cap_seconds=300)


def test_a_configuration_error_halts_at_once_without_touching_the_streak() -> None:
    decision = decide(
        ThirdPartyConfigError("Client credentials are invalid", status=401), FailureStreak(), 100, 0, POLICY
    )
    assert decision == Decision(Verdict.HALT, 100, FailureStreak())


@pytest.mark.parametrize(
    "error", [ThirdPartyGenericError("503", status=503), FirstPartyGenericError("sink down")]
)
def test_the_first_generic_failure_opens_the_window_and_retries_soon(error: Exception) -> None:
    decision = decide(error, FailureStreak(), now=1000, jitter=0.0, policy=POLICY)  # type: ignore[arg-type]
    assert decision.verdict is Verdict.RETRY
    assert decision.streak == FailureStreak(first_at=1000, attempts=1)
    assert 1000 + 2.5 <= decision.at <= 1000 + 5


@pytest.mark.parametrize(
    ("attempts", "low", "high"),
    [(1, 5, 10), (2, 10, 20), (5, 80, 160), (20, 150, 300)],
)
def test_backoff_doubles_up_to_the_cap(attempts: int, low: float, high: float) -> None:
    decision = decide(
        ThirdPartyGenericError("x"), FailureStreak(0, attempts), now=60, jitter=0.5, policy=POLICY
    )
    assert low <= decision.at - 60 <= high


def test_ninety_minutes_after_the_first_failure_it_gives_up() -> None:
    streak = FailureStreak(first_at=0, attempts=40)
    assert decide(ThirdPartyGenericError("x"), streak, 5399, 0, POLICY).verdict is Verdict.RETRY
    assert decide(ThirdPartyGenericError("x"), streak, 5400, 0, POLICY).verdict is Verdict.GIVE_UP


def test_throttling_waits_what_mimecast_asks_and_does_not_grow_the_backoff() -> None:
    decision = decide(RateLimited("429", wait_seconds=42), FailureStreak(), now=10, jitter=0.9, policy=POLICY)
    assert decision == Decision(Verdict.RETRY, 52, FailureStreak(first_at=10, attempts=0))


def test_throttling_that_never_clears_ends_with_the_window() -> None:
    decision = decide(RateLimited("429", wait_seconds=42), FailureStreak(first_at=0), 5400, 0, POLICY)
    assert decision.verdict is Verdict.GIVE_UP


@given(
    first=st.floats(0, 1e6),
    elapsed=st.floats(0, 5399),
    attempts=st.integers(0, 100),
    jitter=st.floats(0, 0.999),
)
def test_no_retry_is_ever_scheduled_past_the_window(
    first: float, elapsed: float, attempts: int, jitter: float
) -> None:
    decision = decide(
        ThirdPartyGenericError("x"), FailureStreak(first, attempts), first + elapsed, jitter, POLICY
    )
    assert decision.verdict is Verdict.RETRY
    assert first + elapsed < decision.at <= first + POLICY.window_seconds

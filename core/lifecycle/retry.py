"""The retry policy, as a pure decision: what to do after an error, given when failures began.

Configuration errors halt at once until the source is updated or restarted. Generic errors retry
with exponential backoff and jitter for up to 90 minutes from the first failure, then give up.
Throttling waits out the time Mimecast asks for and does not grow the backoff, but it is still
bounded by the same window: throttling that never clears ends like any other failure.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from core.errors import RateLimited, SourceError

RETRY_WINDOW_SECONDS = 90 * 60


class Verdict(StrEnum):
    RETRY = "retry"
    HALT = "halt"  # a configuration error: wait for an update or a restart
    GIVE_UP = "give_up"  # the retry window ran out


@dataclass(frozen=True)
class FailureStreak:
    """Failures since the last success: when the first happened and how many counted."""

    first_at: float | None = None
    attempts: int = 0


@dataclass(frozen=True)
class RetryPolicy:
    window_seconds: float = RETRY_WINDOW_SECONDS
    base_seconds: float = 5.0
    cap_seconds: float = 300.0


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    at: float  # when to try again (RETRY only; otherwise `now`)
    streak: FailureStreak


def decide(
    error: SourceError, streak: FailureStreak, now: float, jitter: float, policy: RetryPolicy
) -> Decision:
    """The verdict for `error` at `now`; `jitter` in [0, 1) spreads retries of many streams apart."""
    if not error.retryable:
        return Decision(Verdict.HALT, now, streak)
    first = streak.first_at if streak.first_at is not None else now
    if now - first >= policy.window_seconds:
        return Decision(Verdict.GIVE_UP, now, replace(streak, first_at=first))
    if isinstance(error, RateLimited) or not error.counts_as_failure:
        wait = getattr(error, "wait_seconds", policy.base_seconds)
        return Decision(Verdict.RETRY, now + max(wait, 0.0), FailureStreak(first, streak.attempts))
    attempts = streak.attempts + 1
    backoff = min(policy.cap_seconds, policy.base_seconds * 2 ** (attempts - 1))
    delay = backoff * (0.5 + jitter / 2)
    deadline = first + policy.window_seconds
    return Decision(Verdict.RETRY, min(now + delay, deadline), FailureStreak(first, attempts))

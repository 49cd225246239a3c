"""One failure policy for every path that calls Mimecast: a source's start and its collection.

Pure: the error, the failure streak so far and the time go in; what to do comes out: retry at a
time, or stop (a configuration error halts at once; the 90-minute window ran out), whether the
source shows it (state `Error` and a health event; throttling does neither unless it outlasts the
window), how severe it is, and the reason its state history records.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import SourceError
from core.lifecycle.retry import FailureStreak, RetryPolicy, Verdict, decide

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

    @property
    def stops(self) -> bool:
        return self.retry_at is None


def on_failure(
    error: SourceError, streak: FailureStreak, now: float, jitter: float, policy: RetryPolicy, where: str
) -> FailureOutcome:
    """The contract's table for an error met in `where` (`start`, or a collection's name)."""
    decision = decide(error, streak, now, jitter, policy)
    retrying = decision.verdict is Verdict.RETRY
    reason = f"{error.error_type.value} in {where}: {_WHY[decision.verdict]}"
    return FailureOutcome(
        retry_at=decision.at if retrying else None,
        streak=decision.streak,
        shown=error.counts_as_failure or not retrying,
        final=not retrying,
        reason=reason,
    )

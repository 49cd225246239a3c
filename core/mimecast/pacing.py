"""The rate budget of one Mimecast application on one endpoint, and when its next call may go. Pure.

Mimecast counts calls per application (client id) and endpoint over fixed windows and says how
many are left in `X-RateLimit-Remaining`, with `X-RateLimit-Reset` (spec section 4). While plenty
are left, calls go at once. When few are left (at most `share` of `X-RateLimit-Limit`, or
`FEW_CALLS` when the limit is not sent), the remaining calls are spread evenly over the time to
the reset, so the window ends with its last call spent instead of with a 429 and a wait for the
whole reset. None left: no call before the reset. The budget is shared by every stream of every
source on the application (`core/store/throttle.py`).

Both readings of the unconfirmed facts are handled: the headers on every answer, or only on a 429
(then there is nothing to pace by and only the 429 pause applies); `X-RateLimit-Reset` as
milliseconds to wait (the docs) or as an epoch time in seconds or milliseconds (Sekoia's client).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

REMAINING = "X-RateLimit-Remaining"
LIMIT = "X-RateLimit-Limit"
RESET = "X-RateLimit-Reset"
HEADERS = (REMAINING, LIMIT, RESET)
# A reset this large would be eleven days of milliseconds: it can only be an epoch time
# (seconds, or milliseconds above 10^12).
EPOCH_SECONDS_FLOOR = 1e9
EPOCH_MILLIS_FLOOR = 1e12
# "Few calls left" when the limit is unknown.
FEW_CALLS = 10
# The share of a window's limit paced by default (the last fifth of the calls).
DEFAULT_SHARE = 0.2
# A window counts as renewed this long after the reset it named: the reset is rounded to the
# millisecond and our clock is not Mimecast's.
RESET_MARGIN_SECONDS = 1.0
# A budget is not believed for longer than this past its observation (a reset that never comes).
LONGEST_WINDOW_SECONDS = 24 * 3600.0


@dataclass(frozen=True)
class Budget:
    """What Mimecast last said of one application's quota on one endpoint.

    `remaining` calls are left until `reset_at` (epoch seconds); `limit` is the window's whole
    quota when sent; `seen_at` is when the answer came (or when a call was last claimed).
    """

    remaining: int
    reset_at: float
    seen_at: float
    limit: int | None = None


class Paced(Exception):
    """No call to this endpoint before `until` (epoch seconds): the unit is due again then.

    Not a `SourceError`: waiting for the budget is no failure, opens no health event and never
    counts toward the retry window.
    """

    def __init__(self, endpoint: str, until: float, waited: float) -> None:
        super().__init__(f"{endpoint}: rate budget paces the next call to {until:.1f}")
        self.endpoint = endpoint
        self.until = until
        self.waited = waited


def reset_seconds(value: float, now: float) -> float:
    """Seconds from `now` to the reset an `X-RateLimit-Reset` value names (ms to wait, or an epoch)."""
    if value >= EPOCH_MILLIS_FLOOR:
        return value / 1000 - now
    if value >= EPOCH_SECONDS_FLOOR:
        return value - now
    return value / 1000


def budget_of(headers: Mapping[str, str], now: float) -> Budget | None:
    """The budget an answer's headers state, or None when they do not say both what is left and
    when it renews (a gateway that sends them only on a 429, or a value that is not a number)."""
    lowered = {name.lower(): value for name, value in headers.items()}
    remaining = _number(lowered.get(REMAINING.lower()))
    reset = _number(lowered.get(RESET.lower()))
    if remaining is None or reset is None or remaining < 0 or reset < 0:
        return None
    limit = _number(lowered.get(LIMIT.lower()))
    wait = min(reset_seconds(reset, now), LONGEST_WINDOW_SECONDS)
    return Budget(
        remaining=int(remaining),
        reset_at=now + max(wait, 0.0),
        seen_at=now,
        limit=int(limit) if limit is not None and limit > 0 else None,
    )


def few(budget: Budget, share: float) -> int:
    """How many calls left count as few: the paced tail of the window."""
    if budget.limit is None:
        return FEW_CALLS
    return max(1, math.ceil(budget.limit * share)) if share > 0 else 0


def next_call(budget: Budget | None, now: float, share: float = DEFAULT_SHARE) -> float:
    """The earliest time (epoch seconds) the next call may go; `now` when it may go at once.

    The last call (or observation) was at `seen_at` and left `remaining` calls until `reset_at`:
    spread evenly, they come every (reset_at - seen_at) / (remaining + 1) seconds, the last one
    before the reset. None left: the reset (and a margin). A window already renewed, or plenty
    left, does not wait.
    """
    if budget is None or now >= budget.reset_at + RESET_MARGIN_SECONDS:
        return now
    if budget.remaining <= 0:
        return budget.reset_at + RESET_MARGIN_SECONDS
    if budget.remaining > few(budget, share):
        return now
    spacing = (budget.reset_at - budget.seen_at) / (budget.remaining + 1)
    return max(now, budget.seen_at + spacing)


def spent(budget: Budget | None, now: float) -> Budget | None:
    """The budget once a call goes at `now`, before its answer says better: one call fewer.

    Another unit reading it paces from this call, not from the answer before it."""
    if budget is None or now >= budget.reset_at + RESET_MARGIN_SECONDS:
        return None
    return Budget(max(budget.remaining - 1, 0), budget.reset_at, now, budget.limit)


def newer(stored: Budget | None, seen: Budget) -> bool:
    """Whether an answer's budget replaces the stored one. Answers to concurrent calls can come
    back out of order: within one window (same reset, within a second) the lower count is the
    later; a later reset is a new window."""
    if stored is None or seen.reset_at > stored.reset_at + 1.0 or stored.reset_at <= seen.seen_at:
        return True
    if abs(seen.reset_at - stored.reset_at) <= 1.0:
        return seen.remaining <= stored.remaining
    return False


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None


@dataclass(frozen=True)
class Reading:
    """The shared state of one application's endpoint: its budget (None when unknown), the
    version a claim must match, and the 429 pause, if one is ahead."""

    budget: Budget | None
    version: int = 0
    paused_until: float | None = None


def earliest(reading: Reading, now: float, share: float = DEFAULT_SHARE) -> float:
    """The earliest time of the next call: after the 429 pause and as the budget paces."""
    at = next_call(reading.budget, now, share)
    if reading.paused_until is not None:
        at = max(at, reading.paused_until)
    return at

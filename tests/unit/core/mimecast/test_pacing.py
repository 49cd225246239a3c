"""pacing: when the next call to an endpoint may go, from what Mimecast said of the quota."""

from __future__ import annotations

import pytest

from core.mimecast.classify import rate_limit_wait
from core.mimecast.pacing import (
    FEW_CALLS,
    RESET_MARGIN_SECONDS,
    Budget,
    Reading,
    budget_of,
    earliest,
    newer,
    next_call,
    reset_seconds,
    spent,
)

NOW = 1_750_000_000.0


def budget(remaining: int, reset_in: float, limit: int | None = 100, seen_ago: float = 0.0) -> Budget:
    return Budget(remaining=remaining, reset_at=NOW + reset_in, seen_at=NOW - seen_ago, limit=limit)


@pytest.mark.parametrize(
    ("case", "stated", "expected"),
    [
        ("nothing known: go", None, NOW),
        ("plenty left (50 of 100): go", budget(50, 60), NOW),
        ("just above the paced fifth (21 of 100): go", budget(21, 60), NOW),
        ("none left: wait for the reset and its margin", budget(0, 42), NOW + 42 + RESET_MARGIN_SECONDS),
        ("the window renewed since: go", budget(0, -RESET_MARGIN_SECONDS), NOW),
        ("3 left, 60 s to the reset: every 15 s", budget(3, 60), NOW + 15),
        ("19 left, 40 s: every 2 s", budget(19, 40), NOW + 2),
        ("1 left, 10 s: halfway", budget(1, 10), NOW + 5),
        ("paced from the last call, 10 s ago", budget(3, 50, seen_ago=10), NOW + 5),
        ("the paced moment has passed: go", budget(3, 30, seen_ago=20), NOW),
        ("limit unknown, few left: paced", budget(FEW_CALLS - 1, 100, limit=None), NOW + 10),
        ("limit unknown, many left: go", budget(FEW_CALLS + 1, 100, limit=None), NOW),
    ],
)
def test_the_next_call_goes_at_once_while_plenty_is_left_and_is_spread_over_the_window_when_few_are(
    case: str, stated: Budget | None, expected: float
) -> None:
    assert next_call(stated, NOW, share=0.2) == pytest.approx(expected, abs=1e-6), case


def test_remaining_calls_spread_evenly_leave_the_last_one_before_the_reset() -> None:
    # Given 4 calls left 50 s before the reset, each call going as soon as it may
    stated: Budget | None = budget(4, 50)
    calls = []
    now = NOW
    for _ in range(4):
        now = next_call(stated, now, share=1.0)
        calls.append(now - NOW)
        stated = spent(stated, now)
    # Then they come every 10 s and none is left for the reset, which is the next moment to call
    assert calls == pytest.approx([10, 20, 30, 40], abs=1e-6)
    assert stated is not None
    assert stated.remaining == 0
    assert next_call(stated, now, share=1.0) == pytest.approx(NOW + 50 + RESET_MARGIN_SECONDS, abs=1e-6)


def test_a_share_of_zero_only_waits_once_nothing_is_left() -> None:
    assert next_call(budget(1, 60), NOW, share=0.0) == NOW
    assert next_call(budget(0, 60), NOW, share=0.0) == NOW + 60 + RESET_MARGIN_SECONDS


def test_the_429_pause_and_the_budget_both_hold() -> None:
    assert earliest(Reading(budget(50, 60), paused_until=NOW + 30), NOW) == NOW + 30
    assert earliest(Reading(budget(0, 60), paused_until=NOW + 30), NOW) == NOW + 61
    assert earliest(Reading(None), NOW) == NOW


@pytest.mark.parametrize(
    ("case", "reset", "seconds"),
    [
        ("milliseconds to wait (the docs)", "1500", 1.5),
        ("epoch seconds (Sekoia's reading)", str(int(NOW) + 90), 90),
        ("epoch milliseconds", str(int(NOW * 1000) + 90_000), 90),
    ],
)
def test_the_reset_is_read_in_every_known_form(case: str, reset: str, seconds: float) -> None:
    assert reset_seconds(float(reset), NOW) == pytest.approx(seconds, abs=1e-6), case
    stated = budget_of(
        {"X-RateLimit-Remaining": "7", "X-RateLimit-Limit": "50", "X-RateLimit-Reset": reset}, NOW
    )
    assert stated == Budget(7, pytest.approx(NOW + seconds, abs=1e-6), NOW, 50), case  # type: ignore[arg-type]


def test_the_429_wait_reads_the_reset_as_the_budget_does() -> None:
    assert rate_limit_wait({"X-RateLimit-Reset": str(int(NOW) + 90)}, NOW) == pytest.approx(90, abs=1e-6)
    assert rate_limit_wait({"x-ratelimit-reset": "4000"}, NOW) == pytest.approx(4, abs=1e-6)


@pytest.mark.parametrize(
    ("case", "headers"),
    [
        ("no headers (sent only on a 429)", {}),
        ("no reset", {"X-RateLimit-Remaining": "3"}),
        ("no remaining", {"X-RateLimit-Reset": "1000"}),
        ("not numbers", {"X-RateLimit-Remaining": "many", "X-RateLimit-Reset": "soon"}),
        ("negative", {"X-RateLimit-Remaining": "-1", "X-RateLimit-Reset": "1000"}),
    ],
)
def test_headers_that_do_not_state_a_budget_state_none(case: str, headers: dict[str, str]) -> None:
    assert budget_of(headers, NOW) is None, case


def test_headers_are_read_whatever_their_case_and_a_missing_limit_is_unknown() -> None:
    stated = budget_of({"x-ratelimit-remaining": "3", "x-ratelimit-reset": "2000"}, NOW)
    assert stated == Budget(3, NOW + 2, NOW, None)


@pytest.mark.parametrize(
    ("case", "stored", "seen", "replaces"),
    [
        ("nothing stored", None, budget(5, 60), True),
        ("same window, fewer left: the later answer", budget(5, 60), budget(4, 60.4), True),
        ("same window, more left: an earlier answer come late", budget(4, 60), budget(5, 59.6), False),
        ("a later reset: a new window", budget(1, 5), budget(99, 65), True),
        ("the stored window has renewed", budget(1, -5), budget(99, 50), True),
    ],
)
def test_an_answer_replaces_the_stored_budget_only_when_it_is_newer(
    case: str, stored: Budget | None, seen: Budget, replaces: bool
) -> None:
    assert newer(stored, seen) is replaces, case


def test_a_call_spends_one_and_a_renewed_window_is_forgotten() -> None:
    assert spent(budget(3, 60, seen_ago=5), NOW) == Budget(2, NOW + 60, NOW, 100)
    assert spent(budget(0, 60), NOW) == Budget(0, NOW + 60, NOW, 100)
    assert spent(budget(3, -RESET_MARGIN_SECONDS), NOW) is None
    assert spent(None, NOW) is None

"""PacedCaller: calls keep to the application's shared rate budget; long waits go back to the schedule."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from core.clock import ManualClock
from core.engine.decisions import take
from core.mimecast.paced import MemoryBudgets, PacedCaller
from core.mimecast.pacing import Budget, Paced, Reading
from core.models import KEPT_HEADERS, JsonObject, Page, Request, WindowCursor

ENDPOINT = "/api/dlp/get-logs"
REQUEST = Request("POST", ENDPOINT, body={"data": [{}]})


class Quota:
    """A Mimecast endpoint in memory with a fixed-window quota, stating it on every answer (or not)."""

    def __init__(self, clock: ManualClock, limit: int, window: float, *, headers: bool = True) -> None:
        self.clock, self.limit, self.window, self.headers = clock, limit, window, headers
        self.calls: list[float] = []

    def call(self, request: Request, token: str) -> JsonObject:
        now = self.clock.now().timestamp()
        self.calls.append(now)
        start = now - now % self.window
        used = sum(1 for at in self.calls if at >= start)
        assert used <= self.limit, f"call {used} of a window of {self.limit}: Mimecast would answer 429"
        body: JsonObject = {"data": [], "fail": []}
        if request.keep_headers:
            body[KEPT_HEADERS] = {"x-feed-token": "abc"} if "X-Feed-Token" in request.keep_headers else {}
            if self.headers:
                body[KEPT_HEADERS].update(
                    {
                        "x-ratelimit-limit": str(self.limit),
                        "x-ratelimit-remaining": str(self.limit - used),
                        "x-ratelimit-reset": str(int((start + self.window - now) * 1000)),
                    }
                )
        return body


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2024, 6, 1, tzinfo=UTC))


def paced(
    clock: ManualClock, quota: Quota, budgets: MemoryBudgets, waits: list[tuple[str, float, bool]]
) -> PacedCaller:
    return PacedCaller(
        quota, budgets, clock, "app-1", share=0.5, inline_wait=1.0, on_wait=lambda *wait: waits.append(wait)
    )


def test_units_sharing_a_client_id_never_spend_more_than_the_quota_and_spread_the_last_calls(
    clock: ManualClock,
) -> None:
    # Given an endpoint allowing 10 calls per 100 s, and three units on one client id calling as
    # fast as the budget lets them, rescheduled when paced (as the fetch task does)
    quota, budgets, waits = Quota(clock, 10, 100), MemoryBudgets(), []
    units = [paced(clock, quota, budgets, waits) for _ in range(3)]
    start = clock.now().timestamp()  # the start of a window
    due = [start] * 3
    while clock.now().timestamp() < start + 200:
        unit = min(range(3), key=lambda index: due[index])
        clock.advance(max(due[unit] - clock.now().timestamp(), 0))
        try:
            units[unit].call(REQUEST, "token")
            due[unit] = clock.now().timestamp() + 0.1
        except Paced as pause:
            due[unit] = pause.until
    # Then no window saw more than 10 calls (the Quota twin asserts it) and the budget was used
    first = [at - start for at in quota.calls if at < start + 100]
    assert len(first) == 10
    # the first half went at once, the paced half spread over the rest of the window
    assert first[4] - first[0] < 1
    assert first[-1] > 50
    gaps = [later - earlier for earlier, later in pairwise(first[5:])]
    assert min(gaps) > 5
    assert any(rescheduled for _, _, rescheduled in waits)
    assert all(endpoint == ENDPOINT for endpoint, _, _ in waits)


def test_a_short_wait_is_spent_in_place_and_counted(clock: ManualClock) -> None:
    quota, budgets, waits = Quota(clock, 1000, 60), MemoryBudgets(), []
    budgets.swap(
        "app-1", ENDPOINT, 0, Budget(1, clock.now().timestamp() + 1.0, clock.now().timestamp(), 1000)
    )
    caller = paced(clock, quota, budgets, waits)
    before = clock.now().timestamp()
    caller.call(REQUEST, "token")
    assert quota.calls == [pytest.approx(before + 0.5, abs=1e-6)]
    assert waits == [(ENDPOINT, pytest.approx(0.5, abs=1e-6), False)]


def test_a_long_wait_raises_paced_with_the_time_the_call_may_go(clock: ManualClock) -> None:
    quota, budgets, waits = Quota(clock, 10, 60), MemoryBudgets(), []
    now = clock.now().timestamp()
    budgets.swap("app-1", ENDPOINT, 0, Budget(0, now + 30, now, 10))
    with pytest.raises(Paced) as raised:
        paced(clock, quota, budgets, waits).call(REQUEST, "token")
    assert raised.value.until == pytest.approx(now + 31, abs=1e-6)
    assert quota.calls == []  # no call was made
    assert waits == [(ENDPOINT, pytest.approx(31, abs=1e-6), True)]


def test_a_429_pause_holds_every_unit_on_the_client_id(clock: ManualClock) -> None:
    quota, budgets = Quota(clock, 10, 60), MemoryBudgets()
    budgets.pause("app-1", ENDPOINT, clock.now().timestamp() + 20)
    with pytest.raises(Paced):
        paced(clock, quota, budgets, []).call(REQUEST, "token")
    other = PacedCaller(quota, budgets, clock, "app-2")
    other.call(REQUEST, "token")  # another application has its own budget
    assert len(quota.calls) == 1


def test_without_rate_headers_calls_are_not_paced_and_other_kept_headers_stay(clock: ManualClock) -> None:
    # Given a gateway that states the quota only on a 429
    quota, budgets = Quota(clock, 1000, 60, headers=False), MemoryBudgets()
    caller = PacedCaller(quota, budgets, clock, "app-1", share=1.0)
    for _ in range(20):
        assert KEPT_HEADERS not in caller.call(REQUEST, "token")
    assert len(quota.calls) == 20
    assert budgets.reading("app-1", ENDPOINT).budget is None
    # A request that keeps a header of its own still gets it, and only it
    feed = Request("GET", ENDPOINT, keep_headers=("X-Feed-Token",))
    assert PacedCaller(Quota(clock, 10, 60), budgets, clock, "app-1").call(feed, "t")[KEPT_HEADERS] == {
        "x-feed-token": "abc"
    }


def test_a_batch_ends_at_the_page_before_a_paced_call_and_a_paced_first_call_goes_to_the_caller() -> None:
    start = datetime(2024, 6, 1, tzinfo=UTC)
    cursor = WindowCursor(start=start, end=start + timedelta(minutes=5))
    page = Page("dlp", (), cursor, cursor, finished=False)

    def pages(count: int) -> Iterator[Page]:
        yield from [page] * count
        raise Paced(ENDPOINT, 10.0, 10.0)

    taken = take(pages(2), 1000)
    assert taken is not None
    assert taken.start == cursor
    assert not taken.finished
    with pytest.raises(Paced):
        take(pages(0), 1000)


class CountedBudgets(MemoryBudgets):
    """The in-memory budgets, counting reads: each is a round trip to Redis in a deployment."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def reading(self, client_id: str, endpoint: str) -> Reading:
        self.reads += 1
        return super().reading(client_id, endpoint)


def test_an_answer_is_recorded_against_what_the_call_claimed_without_reading_again_unless_another_wrote(
    clock: ManualClock,
) -> None:
    quota, budgets = Quota(clock, 100, 600), CountedBudgets()
    caller, other = (paced(clock, quota, budgets, []) for _ in range(2))
    caller.call(REQUEST, "token")  # the first answer states the budget: nothing claimed before it
    stated = budgets.reading("app-1", ENDPOINT).budget
    assert stated is not None
    assert stated.remaining == 99
    # Given a budget known: a call reads it once to claim one call, and records the answer on the
    # version its claim wrote, without a second read
    budgets.reads = 0
    clock.advance(10)
    caller.call(REQUEST, "token")
    assert budgets.reads == 1
    assert (budgets.reading("app-1", ENDPOINT).budget or stated).remaining == 98
    # When another call claims and answers between a claim and its answer, both answers are weighed
    # against a fresh read
    budgets.reads = 0
    clock.advance(10)
    original = quota.call

    def meanwhile(request: Request, token: str) -> JsonObject:
        quota.call = original  # type: ignore[method-assign]
        clock.advance(10)
        other.call(REQUEST, "token")  # claims and records in between
        return original(request, token)

    quota.call = meanwhile  # type: ignore[method-assign]
    caller.call(REQUEST, "token")
    # Four reads: the two claims; the other's answer (97: it reached Mimecast first) is older than
    # the caller's claim, which only a fresh read may decide; the caller's answer (96) finds the
    # version moved on, so it reads, and stores it
    assert budgets.reads == 4
    assert (budgets.reading("app-1", ENDPOINT).budget or stated).remaining == 96

"""The page pin: a page read again after a forward died between the destination's write and the
commit hands out exactly the records it handed out before (same batch id), and what Mimecast added
to it in between follows once, as the next batch. Pages come from `paging.step` over simulated
Mimecast answers; the pin is kept by the in-memory twin of the coordination store."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.engine import pins
from core.engine.decisions import batch_id, take
from core.engine.pins import Pin
from core.engine.units import parse
from core.mimecast import paging
from core.mimecast.pacing import Paced
from core.mimecast.streams import AUDIT
from core.models import Page, WindowCursor, cursor_of_text, cursor_text, digest
from core.store.coordination import Lease
from core.store.memory import MemoryCoordination

START = datetime(2024, 6, 1, tzinfo=UTC)
WINDOW = WindowCursor(start=START, end=START + timedelta(minutes=10))
UNIT = parse("s1:auditEvent")
PAGE_SIZE = 2


def audit(n: int, minute: int = 3) -> dict[str, Any]:
    when = (START + timedelta(minutes=minute)).strftime("%Y-%m-%dT%H:%M:%S+0000")
    return {"id": f"a{n}", "auditType": "User Logged On", "eventTime": when}


def pages(cursor: WindowCursor, window: list[dict[str, Any]]) -> Iterator[Page]:
    """The window's pages as Mimecast would answer them now, `PAGE_SIZE` records each, from the
    cursor's page token (an offset) on; each applied to the cursor as the fetcher does."""
    offset = int(cursor.page_token or 0)
    while True:
        chunk = window[offset : offset + PAGE_SIZE]
        offset += PAGE_SIZE
        more = offset < len(window)
        pagination: dict[str, Any] = {"pageSize": PAGE_SIZE, **({"next": str(offset)} if more else {})}
        step = paging.step(AUDIT, cursor, {"meta": {"pagination": pagination}, "data": chunk})
        yield Page(AUDIT.name, step.records, cursor, step.cursor, step.finished)
        if step.finished:
            return
        cursor = step.cursor


class Stream:
    """Fetch and forward of one unit, as `tasks.fetch` and `tasks.forward` run them, over the
    twin store; `written` is the destination (each batch id written once)."""

    def __init__(self, limit: int) -> None:
        self.store = MemoryCoordination()
        self.limit = limit
        self.written: dict[str, tuple[str, ...]] = {}
        lease = self._lease()
        self.store.commit(lease, 0, cursor_text(WINDOW), now=0.0)  # the window is committed open
        self.store.release(lease)

    def _lease(self) -> Lease:
        lease = self.store.acquire(UNIT.id, ttl_seconds=30)
        assert lease is not None
        return lease

    def fetch(self, window: list[dict[str, Any]]) -> tuple[Lease, int, pins.Held]:
        lease = self._lease()
        checkpoint = self.store.checkpoint(UNIT.id)
        assert checkpoint.cursor is not None
        cursor = cursor_of_text(checkpoint.cursor)
        assert isinstance(cursor, WindowCursor)
        pinned = pins.matching(checkpoint.pin, cursor)
        page = take(pages(cursor, window), self.limit, pins.wanted(pinned))
        assert page is not None
        outcome = pins.held(AUDIT, page, pinned)
        handed = self.store.handoff(lease, 30, pins.pin_of(outcome.page, cursor_text(outcome.page.start)))
        assert handed is not None
        return handed, checkpoint.version, outcome

    def forward(self, held: pins.Held) -> str:
        """Write the batch: the destination writes a batch id once."""
        page = held.page
        ids = tuple(record.id for record in page.records)
        batch = batch_id(UNIT, cursor_text(page.start), ids)
        self.written.setdefault(batch, ids)
        return batch

    def run(self, window: list[dict[str, Any]], *, killed: bool = False) -> tuple[str, pins.Held]:
        lease, version, outcome = self.fetch(window)
        batch = self.forward(outcome)
        if killed:
            self.store.expire(UNIT.id)  # kill -9: no commit, the lease lapses
        else:
            self.store.commit(lease, version, cursor_text(outcome.page.end), now=1.0)
            self.store.release(lease)
        return batch, outcome

    def delivered(self) -> list[str]:
        return sorted(record for ids in self.written.values() for record in ids)


def test_a_pinned_page_read_again_with_a_new_record_goes_out_as_before_and_the_new_one_follows_once() -> None:
    stream = Stream(limit=10)
    window = [audit(3), audit(2), audit(1)]
    first, _ = stream.run(window, killed=True)
    window.insert(1, audit(9, minute=4))  # indexed late, inside the window being forwarded

    again, outcome = stream.run(window)

    assert again == first  # the same batch: the destination's write is idempotent
    assert [record.id for record in outcome.page.records] == ["a3", "a2", "a1"]
    assert (outcome.extra, outcome.missing, outcome.page.finished) == (1, 0, False)
    assert pins.told("s1:auditEvent", outcome) == [
        (
            logging.INFO,
            "unit s1:auditEvent: the page handed out before goes out again as it was (3 record(s)); "
            "1 record(s) Mimecast added to it since follow as the next batch",
        )
    ]
    end = outcome.page.end
    assert isinstance(end, WindowCursor)
    assert (end.start, end.end, end.page_token) == (WINDOW.start, WINDOW.end, WINDOW.page_token)
    minute3 = int((START + timedelta(minutes=3)).timestamp())
    assert {key: end.known.time_of(key) for key in map(digest, ("a1", "a2", "a3"))} == dict.fromkeys(
        map(digest, ("a1", "a2", "a3")), minute3
    )

    follow, after = stream.run(window)
    assert follow != first
    assert [record.id for record in after.page.records] == ["a9"]
    assert after.page.finished
    assert after.extra == 0
    assert stream.delivered() == ["a1", "a2", "a3", "a9"]  # each once
    assert stream.store.checkpoint(UNIT.id).pin is None


def test_without_the_pin_the_same_crash_writes_the_first_records_twice() -> None:
    """What the pin prevents: the re-read page makes a new batch holding the records written before."""
    stream = Stream(limit=10)
    window = [audit(3), audit(2), audit(1)]
    stream.run(window, killed=True)
    window.insert(1, audit(9, minute=4))
    stream.store.checkpoints[UNIT.id].pin = None

    stream.run(window)

    assert stream.delivered() == ["a1", "a1", "a2", "a2", "a3", "a3", "a9"]


def test_pinned_records_pushed_onto_a_later_page_are_read_on_for() -> None:
    stream = Stream(limit=2)
    window = [audit(4), audit(3), audit(2), audit(1)]
    first, handed = stream.run(window, killed=True)
    assert [record.id for record in handed.page.records] == ["a4", "a3"]  # one page of two
    window.insert(0, audit(9, minute=5))  # a3 is now on the second page

    again, outcome = stream.run(window)

    assert again == first
    assert [record.id for record in outcome.page.records] == ["a4", "a3"]
    assert outcome.extra == 2  # a9, and a2 of the page read on to
    while not stream.run(window)[1].page.finished:
        pass
    assert stream.delivered() == ["a1", "a2", "a3", "a4", "a9"]


def test_a_page_read_again_unchanged_commits_its_end_as_usual() -> None:
    stream = Stream(limit=10)
    window = [audit(2), audit(1)]
    first, handed = stream.run(window, killed=True)

    again, outcome = stream.run(window)

    assert again == first
    assert outcome.extra == 0
    assert outcome.page.end == handed.page.end
    assert outcome.page.finished
    assert stream.delivered() == ["a1", "a2"]


def test_a_pinned_record_gone_from_the_page_is_counted_and_the_rest_go_out() -> None:
    stream = Stream(limit=10)
    window = [audit(3), audit(2), audit(1)]
    first, _ = stream.run(window, killed=True)
    del window[1]

    again, outcome = stream.run(window)

    assert outcome.missing == 1
    assert outcome.extra == 0
    assert [record.id for record in outcome.page.records] == ["a3", "a1"]
    assert again != first  # not exactly once: a3 and a1 are written a second time
    assert stream.delivered() == ["a1", "a1", "a2", "a3", "a3"]
    assert [level for level, _ in pins.told("s1:auditEvent", outcome)] == [logging.WARNING]


def test_a_pin_from_another_start_is_ignored() -> None:
    page = next(pages(WINDOW, [audit(2), audit(1)]))
    here = pins.pin_of(page, cursor_text(WINDOW))
    earlier = WindowCursor(start=START - timedelta(minutes=10), end=START)
    stale = pins.pin_of(next(pages(earlier, [audit(1)])), cursor_text(earlier))

    assert pins.matching(here, WINDOW) == here
    assert pins.matching(stale, WINDOW) is None
    assert pins.held(AUDIT, page, pins.matching(stale, WINDOW)).page == page
    assert pins.matching(Pin(digest(cursor_text(WINDOW)), ()), WINDOW) is None  # nothing pinned


def test_only_a_window_page_with_records_is_pinned_and_by_a_digest_of_its_start() -> None:
    page = next(pages(WINDOW, [audit(2), audit(1)]))
    assert pins.pin_of(page, cursor_text(WINDOW)) == Pin(
        digest(cursor_text(WINDOW)), (digest("a2"), digest("a1"))
    )
    assert pins.pin_of(next(pages(WINDOW, [])), cursor_text(WINDOW)) is None


def test_take_reads_on_for_pinned_ids_no_further_than_the_overrun() -> None:
    window = [audit(n) for n in range(20, 0, -1)]
    far = frozenset({digest("a1")})  # on the last page

    page = take(pages(WINDOW, window), limit=2, wanted=far)

    assert page is not None
    assert len(page.records) == 6  # OVERRUN * limit: a vanished id does not read the window out
    found = take(pages(WINDOW, window), limit=2, wanted=frozenset({digest("a15")}))
    assert found is not None
    assert [record.id for record in found.records][-1] == "a15"


def test_a_pinned_re_read_cut_short_by_the_rate_budget_waits_rather_than_hand_out_part_of_it() -> None:
    window = [audit(n) for n in range(6, 0, -1)]

    def paced_after_one_page() -> Iterator[Page]:
        yield next(pages(WINDOW, window))
        raise Paced("/api/audit/get-audit-events", until=10.0, waited=0.0)

    with pytest.raises(Paced):
        take(paced_after_one_page(), limit=10, wanted=frozenset({digest("a6"), digest("a3")}))
    cut = take(paced_after_one_page(), limit=10, wanted=frozenset({digest("a6"), digest("a5")}))
    assert cut is not None  # every pinned id read: the batch goes out
    assert [record.id for record in cut.records] == ["a6", "a5"]
    unpinned = take(paced_after_one_page(), limit=10)
    assert unpinned is not None  # without a pin, the pages read so far go out as before

"""Resuming from any committed cursor, against the simulator over real HTTP: nothing lost, nothing repeated.

A cursor is committed after each page (its JSON form, as the checkpoint store keeps it); a new
worker with a fresh client, no cached token and no cached listing starts from it. Whatever the
cursor (inside a window, between pages of a window, inside a batch file, between listings), the
pages before it and the pages read from it are together exactly the ground truth. Then the same
with faults, restarts and the passing of time drawn by hypothesis.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import RateLimited, SourceError
from core.mimecast.streams import AUDIT, DLP, HOLD, SIEM_BATCH, SIEM_STREAMING, Collection, StreamSpec
from core.models import Page
from tests.support.fetching import (
    Clocks,
    Workers,
    drain,
    read_up_to,
    resume,
    start_cursor,
    stored,
    truth,
    truth_ids,
)
from tests.support.simulator import SimulatorProcess

# Small pages and chunks, so that a short backlog gives many cursors of every kind.
SMALL = [
    replace(SIEM_BATCH, page_size=8),
    replace(SIEM_STREAMING, page_size=50),
    replace(DLP, page_size=50),
    replace(AUDIT, page_size=50),
    replace(HOLD, page_size=50),
]
CHUNK_RECORDS = 4
ROUTE = {"siem": "batch", "siem-streaming": "streaming", "dlp": "dlp", "auditEvent": "audit"}


def route_of(spec: StreamSpec) -> str:
    return ROUTE.get(spec.name, "hold")


@pytest.mark.parametrize("spec", SMALL, ids=lambda spec: spec.name)
def test_a_new_worker_resuming_from_any_committed_cursor_loses_and_repeats_nothing(
    simulator: SimulatorProcess, clocks: Clocks, workers: Workers, spec: StreamSpec
) -> None:
    simulator.configure(quota_batch=[10_000, 900])
    start = start_cursor(spec, clocks)
    pages = drain(workers.fetcher(chunk_records=CHUNK_RECORDS), spec, start)
    whole = truth_ids(pages)
    assert Counter(whole) == truth(simulator, spec, until=read_up_to(spec, pages, start))
    assert len(pages) >= 10
    for index, page in enumerate(pages[:-1]):
        # When a worker that committed `page` dies and another one takes over from its cursor
        to_the_end = index % 8 == 0
        limit = None if to_the_end else 3
        rest = resume(simulator, clocks.client, spec, page.end, limit, chunk_records=CHUNK_RECORDS)
        # Then it reads the pages the first worker would have read, records and cursors alike
        following = pages[index + 1 : index + 1 + len(rest)]
        assert [(p.start, p.end) for p in rest] == [(p.start, p.end) for p in following]
        assert truth_ids(rest) == truth_ids(following)
        if to_the_end:
            assert truth_ids(pages[: index + 1]) + truth_ids(rest) == whole


@dataclass(frozen=True)
class Event:
    """Before reading page `at` of a run: a fault, a restart of the worker, or time passing."""

    at: int
    what: str


FAULTS: dict[str, dict[str, Any]] = {
    "503": {"status": 503},
    "429": {"kind": "rate_limit", "reset_ms": 30_000},
    "drop": {"kind": "drop"},
    "expired token": {},
    "restart": {},
    "five minutes": {},
}


@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    spec=st.sampled_from(SMALL),
    events=st.lists(
        st.builds(Event, at=st.integers(0, 30), what=st.sampled_from(sorted(FAULTS))), max_size=6
    ),
)
def test_faults_restarts_and_time_in_any_order_leave_every_record_exactly_once(
    simulator: SimulatorProcess, spec: StreamSpec, events: list[Event]
) -> None:
    simulator.reset()
    simulator.configure(quota_batch=[10_000, 900])
    clocks = Clocks(simulator)
    with closing(Workers(simulator, clocks.client)) as workers:
        start = start_cursor(spec, clocks)
        committed: list[Page] = []
        due = sorted(events, key=lambda event: event.at)
        cursor = start
        read = 0
        restarts = 0
        while True:
            fetcher = workers.fetcher(chunk_records=CHUNK_RECORDS)
            try:
                with closing(fetcher.pages(spec, stored(cursor))) as pages:
                    for page in _pages_with_events(pages, due, read, simulator, clocks, spec):
                        committed.append(page)
                        cursor = page.end
                        read += 1
                        if due and due[0].what == "restart" and due[0].at <= read:
                            due.pop(0)
                            raise _Restart
            except RateLimited as limited:
                clocks.advance(limited.wait_seconds)
            except (SourceError, _Restart):
                pass
            else:
                break
            restarts += 1
            assert restarts < 20
        # And at the next poll, with no fault left, there is nothing it should have read already
        simulator.control.delete("/_sim/faults").raise_for_status()
        committed += drain(workers.fetcher(), spec, stored(cursor))
        ids = truth_ids(committed)
        assert len(ids) == len(set(ids))
        expected = truth(simulator, spec, until=read_up_to(spec, committed, start))
        if spec.collection is not Collection.HOLD:
            assert Counter(ids) == expected
            return
        # The hold list is a current-state queue: a message released while time passed before
        # the page that would have listed it cannot be read by anyone. Only those may be missing.
        assert not Counter(ids) - expected
        still_held = truth_ids(drain(workers.fetcher(), spec, start_cursor(spec, clocks)))
        assert not (set(expected) - set(ids)) & set(still_held)


class _Restart(Exception):
    """The worker dies between two pages."""


def _pages_with_events(
    pages: Iterator[Page],
    due: list[Event],
    read: int,
    sim: SimulatorProcess,
    clocks: Clocks,
    spec: StreamSpec,
) -> Iterator[Page]:
    """The pages, with the events due before each played just before it is asked for."""
    while True:
        while due and due[0].at <= read and due[0].what != "restart":
            event = due.pop(0)
            if event.what == "expired token":
                sim.control.post("/_sim/tokens/expire").raise_for_status()
            elif event.what == "five minutes":
                clocks.advance(300)
            else:
                on_files = event.what == "drop" and spec.name == "siem"
                sim.fault("files" if on_files else route_of(spec), **FAULTS[event.what])
        try:
            page = next(pages)
        except StopIteration:
            return
        read += 1
        yield page

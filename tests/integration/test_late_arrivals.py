"""Late arrivals against the simulator over real HTTP: a record Mimecast indexes minutes after its
time (up to the overlap) is still collected, once, whichever order the endpoint lists in.

The simulator's clock is frozen and moved a minute at a time, as a worker polling every minute sees
it; each poll reads from the cursor the previous one committed (through its stored form).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

import pytest

from core.mimecast.streams import AUDIT, DLP, HOLD, StreamSpec
from core.mimecast.windows import initial_cursor
from core.models import Cursor, WindowCursor
from tests.support.fetching import Clocks, Workers, drain, stored, truth_ids
from tests.support.simulator import SimulatorProcess

LATE_MINUTES = 8  # within the ten-minute overlap
POLLS = 20


def truth(
    sim: SimulatorProcess, spec: StreamSpec, since: datetime, until: datetime | None = None
) -> set[str]:
    """The ids the simulator has made readable by now, timed in [since, until)."""
    bounds = {"since": since.isoformat(), **({"until": until.isoformat()} if until is not None else {})}
    return set(sim.truth(spec.collection.value, **bounds))


def poll(workers: Workers, spec: StreamSpec, cursor: Cursor, delivered: Counter[str]) -> WindowCursor:
    """One poll: every page due now, handed out and committed; the cursor committed last."""
    pages = drain(workers.fetcher(), spec, stored(cursor))
    delivered.update(truth_ids(pages))
    end = pages[-1].end if pages else cursor
    assert isinstance(end, WindowCursor)
    return end


@pytest.mark.parametrize("order", ["newest_first", "oldest_first"])
@pytest.mark.parametrize("spec", [DLP, AUDIT, HOLD], ids=lambda spec: spec.name)
def test_records_indexed_late_within_the_overlap_are_collected_exactly_once(
    simulator: SimulatorProcess, clocks: Clocks, workers: Workers, spec: StreamSpec, order: str
) -> None:
    # Given a third of DLP and audit records indexed 1 to 8 minutes after their time, audit events
    # and the hold list listed in `order`, and a stream that starts half an hour back
    simulator.configure(late_share=0.3, late_minutes=LATE_MINUTES, listing_order=order)
    delivered: Counter[str] = Counter()
    start = initial_cursor(spec, clocks.now, since=clocks.now - timedelta(minutes=30))
    assert isinstance(start, WindowCursor)
    cursor = poll(workers, spec, start, delivered)
    first_read = cursor.reached
    seen_then = truth(simulator, spec, start.start, first_read)
    # When it polls every minute for twenty minutes
    for _ in range(POLLS):
        clocks.advance(60)
        cursor = poll(workers, spec, cursor, delivered)
    # Then every record timed early enough to be readable by the last poll came out, and none twice
    cut = cursor.reached - timedelta(minutes=LATE_MINUTES)
    expected = truth(simulator, spec, start.start, cut)
    assert expected, "the simulator made no records"
    assert expected - set(delivered) == set()
    assert set(delivered) <= truth(simulator, spec, start.start)
    assert [key for key, count in delivered.items() if count > 1] == []
    # And the records indexed after the first poll had read past their time are among them
    indexed_late = truth(simulator, spec, start.start, first_read) - seen_then
    if spec is HOLD:
        assert indexed_late == set()  # the hold list is not indexed late here
    else:
        assert indexed_late  # the scenario happened (how many is random; a slow machine sees fewer)
        assert indexed_late <= set(delivered)

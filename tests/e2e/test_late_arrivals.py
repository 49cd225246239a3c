"""Records Mimecast indexes late (within the overlap) reach the destination exactly once, with real
workers: DLP and audit windows read up to the present and read the overlap again, and a backfill
split into sub-windows hands the overlap to the live stream (minutes scaled down to seconds)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.e2e.harness import deploy, duplicates, missing
from tests.support.stack import wait_for

pytestmark = pytest.mark.timeout(180)

COLLECTIONS = ("dlp", "auditEvent")
LATE_SECONDS = 18  # records indexed 9 to 18 seconds after their time ...
SETTINGS = {"WINDOW_OVERLAP_SECONDS": "25", "BACKFILL_SPLIT_SECONDS": "60"}  # ... inside a 25 s overlap
SIMULATOR = {
    "backlog_hours": 0.1,  # six minutes: split into sub-windows of a minute, the rest read live
    "events_per_minute": 120,
    "late_share": 0.4,
    "late_minutes": LATE_SECONDS / 60,
    "late_collections": list(COLLECTIONS),
}


def test_records_indexed_late_reach_the_destination_exactly_once(tmp_path: Path) -> None:
    with deploy(tmp_path, settings=SETTINGS, simulator=SIMULATOR) as deployment:
        sim = deployment.simulator
        collector, source = deployment.create_source(collections=COLLECTIONS)
        deployment.wait_state(collector, source, "Collecting")
        # Given the moment the streams read live, and what Mimecast had indexed by then
        wait_for(lambda: all(deployment.delivered()[c] for c in COLLECTIONS), timeout=60, what="records")
        time.sleep(2)  # a poll or two: the backfill's sub-windows are done, the streams read live
        moment = deployment.sim_now()
        until = moment.isoformat()
        indexed_then = {c: set(sim.truth(c, until=until)) for c in COLLECTIONS}
        # When the records timed before it that were indexed late have all appeared
        time.sleep(LATE_SECONDS + 1)
        expected = {c: set(sim.truth(c, until=until)) for c in COLLECTIONS}
        indexed_late = {c: expected[c] - indexed_then[c] for c in COLLECTIONS}
        assert all(indexed_late.values()), indexed_late  # the scenario happened (how many: random)
        # Then every one of them reaches the destination, and no record arrives twice
        deadline = time.monotonic() + 60
        while missing(delivered := deployment.delivered(), expected):
            assert time.monotonic() < deadline, f"not delivered: {missing(delivered, expected)}"
            time.sleep(0.5)
        assert duplicates(delivered) == {}
        for collection in COLLECTIONS:
            assert indexed_late[collection] <= set(delivered[collection])
            assert set(delivered[collection]) <= set(sim.truth(collection))
        assert duplicates(deployment.delivered()) == {}

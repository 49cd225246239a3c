"""SIEM batch files handed out as children and read apart, by our client from the simulator over
real HTTP: every record once, and a child whose URLs expired before it ran lists again by the
token of the listing that made it."""

from __future__ import annotations

from collections import Counter

from core.engine import fanout
from core.engine.units import Unit
from core.mimecast.streams import SIEM_BATCH
from core.models import BatchCursor, Page
from tests.support.fetching import Clocks, Workers, drain, start_cursor, truth, truth_ids
from tests.support.simulator import SimulatorProcess

SIEM = Unit("s1", "siem")


def calls(sim: SimulatorProcess, route: str) -> int:
    count: int = sim.state()["calls"].get(route, 0)
    return count


def read_children(workers: Workers, adoption: fanout.Adoption) -> list[Page]:
    pages: list[Page] = []
    for child in reversed(adoption.children):  # in any order: each child is on its own
        read = drain(workers.fetcher(), SIEM_BATCH, child.cursor)
        assert fanout.complete(child.unit, read[-1].end)
        pages += read
    return pages


def test_the_children_of_every_listing_deliver_every_record_once(
    simulator: SimulatorProcess, clocks: Clocks, workers: Workers
) -> None:
    cursor = start_cursor(SIEM_BATCH, clocks)
    pages: list[Page] = []
    children = 0
    while True:
        assert isinstance(cursor, BatchCursor)
        listing = workers.fetcher().listing(SIEM_BATCH, cursor)
        adoption = fanout.files_of(SIEM, cursor, listing, most=200_000, spread=8)
        children += len(adoption.children)
        pages += read_children(workers, adoption)
        cursor = adoption.cursor
        if not listing.files:
            break
    assert children > 1
    assert Counter(truth_ids(pages)) == truth(simulator, SIEM_BATCH)


def test_a_child_whose_urls_expired_before_it_ran_lists_again_and_reads_everything(
    simulator: SimulatorProcess, clocks: Clocks, workers: Workers
) -> None:
    simulator.configure(batch_url_ttl_seconds=120)
    origin = start_cursor(SIEM_BATCH, clocks)
    assert isinstance(origin, BatchCursor)
    listing = workers.fetcher().listing(SIEM_BATCH, origin)
    adoption = fanout.files_of(SIEM, origin, listing, most=200_000, spread=8)
    listed = calls(simulator, "batch")

    simulator.advance(300)  # every URL of the listing expired while the children waited for a slot

    pages = read_children(workers, adoption)
    assert not [gap for page in pages for gap in page.gaps]
    assert calls(simulator, "batch") > listed  # listed again, by the listing's own token
    clocks.client.advance(300)
    pages += drain(workers.fetcher(), SIEM_BATCH, adoption.cursor)
    assert Counter(truth_ids(pages)) == truth(simulator, SIEM_BATCH)

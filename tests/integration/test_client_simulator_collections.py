"""Our client against the simulator over real HTTP: every collection gives exactly the ground truth.

Read from the start of the backlog to the end, each collection gives every record the simulator
made available, once. Read on after time passes, it gives what was published since (SIEM batch
files of old periods published late, held messages newly held; released ones never again), once.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import pytest

from core.errors import ThirdPartyConfigError
from core.mimecast.streams import (
    ARCHIVE_SEARCH,
    AUDIT,
    CLOUD_INTEGRATED,
    DLP,
    HOLD,
    HOLD_RELEASE,
    SIEM_BATCH,
    SIEM_STREAMING,
    THREAT_INTEL_CUSTOMER,
    THREAT_INTEL_GRID,
    TTP_ATTACHMENT,
    TTP_IMPERSONATION,
    TTP_URL,
    StreamSpec,
)
from core.models import BatchCursor, Credentials, Page, WindowCursor
from tests.support.fetching import (
    Clocks,
    connect,
    drain,
    read_up_to,
    resume,
    sim_time,
    start_cursor,
    truth,
    truth_ids,
)
from tests.support.simulator import SimulatorProcess

SPECS = [
    SIEM_BATCH,
    SIEM_STREAMING,
    DLP,
    AUDIT,
    HOLD,
    TTP_URL,
    TTP_ATTACHMENT,
    TTP_IMPERSONATION,
    ARCHIVE_SEARCH,
    HOLD_RELEASE,
    CLOUD_INTEGRATED,
    THREAT_INTEL_CUSTOMER,
    THREAT_INTEL_GRID,
]
ALL_VALUES = sorted({spec.collection.value for spec in SPECS})
WINDOWED_API = [DLP, AUDIT, HOLD, TTP_URL, TTP_ATTACHMENT, TTP_IMPERSONATION, ARCHIVE_SEARCH, HOLD_RELEASE]
KINDS = {  # collections whose records say what they are
    "siem": 5,
    "cloudIntegrated": 3,
    "threatIntelCustomer": 3,
    "threatIntelGrid": 3,
}


@pytest.fixture
def clocks(simulator: SimulatorProcess) -> Clocks:
    return Clocks(simulator)


def records_by_kind(pages: list[Page]) -> Counter[str]:
    return Counter(record.kind for page in pages for record in page.records)


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.name)
def test_each_collection_read_from_the_start_gives_exactly_the_ground_truth(
    simulator: SimulatorProcess, clocks: Clocks, spec: StreamSpec
) -> None:
    # Given a new stream that starts at the oldest record of the backlog
    start = start_cursor(spec, clocks)
    connection = connect(simulator, clocks.client)
    # When it is read until Mimecast has nothing more right now
    pages = drain(connection.fetcher, spec, start)
    # Then the records are exactly the simulator's ground truth, each once
    assert pages[-1].finished
    assert not any(page.finished for page in pages[:-1])
    expected = truth(simulator, spec, until=read_up_to(spec, pages, start))
    assert Counter(truth_ids(pages)) == expected
    assert sum(expected.values()) > 300
    assert not [q for page in pages for q in page.quarantined]
    assert not [gap for page in pages for gap in page.gaps]
    # And each record says what it is
    kinds = records_by_kind(pages)
    if spec.collection.value in KINDS:
        assert len(kinds) >= KINDS[spec.collection.value]
        assert all(" " in kind or kind.isalpha() for kind in kinds)
    else:
        assert set(kinds) == {spec.collection.value}
    # And one token served the whole read
    assert simulator.state()["calls"]["token"] == 1
    connection.close()


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.name)
def test_reading_on_after_time_passes_gives_what_was_published_since_once(
    simulator: SimulatorProcess, clocks: Clocks, spec: StreamSpec
) -> None:
    # Given a stream read to its end
    connection = connect(simulator, clocks.client)
    start = start_cursor(spec, clocks)
    pages = drain(connection.fetcher, spec, start)
    # When it polls every five minutes for an hour, as a source does, each poll a new task in
    # whichever worker (a fresh client) starting from the stored cursor
    for _ in range(12):
        clocks.advance(300)
        pages += resume(simulator, clocks.client, spec, pages[-1].end)
    # Then everything made available in the meantime came out, and nothing twice
    assert Counter(truth_ids(pages)) == truth(simulator, spec, until=read_up_to(spec, pages, start))
    connection.close()


def test_siem_files_of_a_listed_period_published_late_are_read_after_the_caught_up_point(
    simulator: SimulatorProcess, clocks: Clocks
) -> None:
    # Given the batch stream caught up, with files of the latest period still unpublished (jitter)
    connection = connect(simulator, clocks.client)
    first = drain(connection.fetcher, SIEM_BATCH, start_cursor(SIEM_BATCH, clocks))
    caught_up = first[-1].end
    assert isinstance(caught_up, BatchCursor)
    assert caught_up.caught_up
    assert caught_up.token is not None
    # When ten minutes pass: the rest of that period's files are published, no new period yet
    clocks.advance(600)
    later = drain(connection.fetcher, SIEM_BATCH, caught_up)
    # Then the late files are read, and only they
    new = Counter(truth_ids(later))
    assert new
    assert not new & Counter(truth_ids(first))
    assert Counter(truth_ids(first)) + new == truth(simulator, SIEM_BATCH)
    connection.close()


def test_a_released_held_message_is_not_listed_again_and_a_new_one_comes_once(
    simulator: SimulatorProcess, clocks: Clocks
) -> None:
    connection = connect(simulator, clocks.client)
    first = drain(connection.fetcher, HOLD, start_cursor(HOLD, clocks))
    held_at_start = set(truth_ids(first))
    # When six hours pass in five-minute polls: every message held at start has been released
    pages = list(first)
    for _ in range(72):
        clocks.advance(300)
        pages += drain(connection.fetcher, HOLD, pages[-1].end)
    later = truth_ids(pages[len(first) :])
    assert not held_at_start & set(later)
    assert len(later) == len(set(later)) > 0
    assert Counter(truth_ids(pages)) == truth(simulator, HOLD, until=read_up_to(HOLD, pages, first[-1].end))
    connection.close()


@pytest.mark.parametrize("spec", WINDOWED_API, ids=lambda spec: spec.name)
def test_small_pages_page_a_window_to_its_end_before_it_moves(
    simulator: SimulatorProcess, clocks: Clocks, spec: StreamSpec
) -> None:
    small = replace(spec, page_size=37)
    connection = connect(simulator, clocks.client)
    start = start_cursor(small, clocks)
    pages = drain(connection.fetcher, small, start)
    assert len(pages) > 10
    windows = {(page.start.start, page.start.end) for page in pages if isinstance(page.start, WindowCursor)}
    assert len(windows) < len(pages)  # many pages per window: tokens followed, the window held
    assert Counter(truth_ids(pages)) == truth(simulator, small, until=read_up_to(small, pages, start))
    connection.close()


@pytest.mark.parametrize("spec", WINDOWED_API, ids=lambda spec: spec.name)
def test_a_placeholder_next_on_an_empty_last_page_ends_the_window(
    simulator: SimulatorProcess, clocks: Clocks, spec: StreamSpec
) -> None:
    simulator.configure(empty_last_page=True)
    small = replace(spec, page_size=200)
    connection = connect(simulator, clocks.client)
    start = start_cursor(small, clocks)
    pages = drain(connection.fetcher, small, start)
    assert not pages[-1].records  # the placeholder was followed once, to an empty page
    assert Counter(truth_ids(pages)) == truth(simulator, small, until=read_up_to(small, pages, start))
    connection.close()


def test_streaming_events_repeated_at_every_page_boundary_come_out_once(
    simulator: SimulatorProcess, clocks: Clocks
) -> None:
    simulator.configure(overlap_rate=1.0)
    small = replace(SIEM_STREAMING, page_size=40)
    connection = connect(simulator, clocks.client)
    start = start_cursor(small, clocks)
    pages = drain(connection.fetcher, small, start)
    assert len(pages) > 10
    assert Counter(truth_ids(pages)) == truth(simulator, small, until=read_up_to(small, pages, start))
    connection.close()


def test_a_streaming_stream_left_behind_for_more_than_24_hours_reports_exactly_what_it_lost(
    simulator: SimulatorProcess, clocks: Clocks
) -> None:
    connection = connect(simulator, clocks.client)
    start = start_cursor(SIEM_STREAMING, clocks)
    pages = drain(connection.fetcher, SIEM_STREAMING, start)
    # When the stream is not polled for 25 hours
    clocks.advance(25 * 3600)
    later = drain(connection.fetcher, SIEM_STREAMING, pages[-1].end)
    # Then the first page reports the range Mimecast no longer serves as a gap
    (gap,) = [gap for page in later for gap in page.gaps]
    assert later[0].gaps == (gap,)
    lost_from, lost_to = (sim_time(part) for part in gap.what.removeprefix("siem-streaming ").split(" .. "))
    # And what is missing is exactly the records of that range; the rest came out once
    got = Counter(truth_ids(pages + later))
    expected = truth(simulator, SIEM_STREAMING, until=read_up_to(SIEM_STREAMING, later, start))
    lost = Counter(
        simulator.truth("siem", via="streaming", since=lost_from.isoformat(), until=lost_to.isoformat())
    )
    assert lost
    assert got + lost == expected
    connection.close()


MORE = [TTP_URL, TTP_ATTACHMENT, TTP_IMPERSONATION, ARCHIVE_SEARCH, HOLD_RELEASE]
MORE_WITH_BATCH_AND_FEEDS = [*MORE, CLOUD_INTEGRATED, THREAT_INTEL_CUSTOMER, THREAT_INTEL_GRID]


@pytest.mark.parametrize("spec", MORE_WITH_BATCH_AND_FEEDS, ids=lambda spec: spec.name)
def test_an_application_without_the_permission_gets_a_configuration_error_for_that_collection(
    simulator: SimulatorProcess, clocks: Clocks, spec: StreamSpec
) -> None:
    # Given an application that may read every collection but this one
    others = [c for c in ALL_VALUES if c != spec.collection.value]
    body = {"client_id": "partial", "client_secret": "partial-secret", "collections": others}
    simulator.control.post("/_sim/clients", json=body).raise_for_status()
    connection = connect(simulator, clocks.client, credentials=Credentials("partial", "partial-secret"))
    # When it reads this collection: a 403, classified as the configuration's fault
    with pytest.raises(ThirdPartyConfigError) as refused:
        drain(connection.fetcher, spec, start_cursor(spec, clocks))
    assert refused.value.status == 403
    # And another collection still reads
    assert drain(connection.fetcher, DLP, start_cursor(DLP, clocks))[-1].finished
    connection.close()


@pytest.mark.parametrize(
    ("spec", "option"),
    [
        *((spec, {"empty_window_flat": True}) for spec in MORE),
        *((spec, {"listing_order": "oldest_first"}) for spec in (AUDIT, HOLD, ARCHIVE_SEARCH, HOLD_RELEASE)),
        *(
            (spec, {"feed_last_token": "repeat", "feed_page_objects": 90})
            for spec in (THREAT_INTEL_CUSTOMER, THREAT_INTEL_GRID)
        ),
    ],
    ids=lambda value: (
        value.name if isinstance(value, StreamSpec) else ",".join(f"{k}={v}" for k, v in value.items())
    ),
)
def test_either_reading_of_an_unconfirmed_behaviour_gives_the_same_ground_truth(
    simulator: SimulatorProcess, clocks: Clocks, spec: StreamSpec, option: dict[str, object]
) -> None:
    simulator.configure(**option)
    small = replace(spec, page_size=40) if spec.page_size else spec
    connection = connect(simulator, clocks.client)
    start = start_cursor(small, clocks)
    pages = drain(connection.fetcher, small, start)
    # And a quarter of an hour later, read on: empty windows come in between
    for _ in range(3):
        clocks.advance(300)
        pages += drain(connection.fetcher, small, pages[-1].end)
    assert len(pages) > 3
    assert Counter(truth_ids(pages)) == truth(simulator, small, until=read_up_to(small, pages, start))
    connection.close()

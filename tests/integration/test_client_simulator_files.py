"""SIEM batch files that go wrong, read by our client from the simulator over real HTTP.

An expired URL is listed again once for a fresh one; a file still gone after that is a gap and the
stream goes on; a truncated gzip stream or a line that is not JSON is quarantined with its position,
and everything else is read.
"""

from __future__ import annotations

import tracemalloc
from collections import Counter
from collections.abc import Iterator
from contextlib import closing
from typing import Any

import pytest

from core.mimecast.batchfiles import BatchFileReader
from core.mimecast.paging import file_key
from core.mimecast.streams import SIEM_BATCH
from core.models import BatchCursor, BatchFile, Page
from tests.support.fetching import Clocks, Workers, drain, start_cursor, truth, truth_ids
from tests.support.simulator import SimulatorProcess


@pytest.fixture(scope="module")
def busy_simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatorProcess]:
    """A simulator whose files hold about a hundred lines each, shared by this module."""
    server = SimulatorProcess(
        tmp_path_factory.mktemp("busy"), events_per_minute=60, backlog_hours=1, start="2024-06-05T10:07:30Z"
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def busy(busy_simulator: SimulatorProcess) -> SimulatorProcess:
    busy_simulator.reset()
    return busy_simulator


def calls(sim: SimulatorProcess, route: str) -> int:
    count: int = sim.state()["calls"].get(route, 0)
    return count


def next_file(page: Page) -> str:
    """The key of the file the stream reads after `page`."""
    assert isinstance(page.end, BatchCursor)
    key = page.end.reading
    assert key is not None
    return key


def a_large_file_to_come(page: Page) -> str:
    """A receipt file (the most frequent log type) of a full period that the stream reads later."""
    assert isinstance(page.end, BatchCursor)
    later = page.end.files[page.end.file_index + 1 :]
    receipts = [key for key in later if name_of(key)[1] == 0]
    return max(receipts, key=lambda key: name_of(key)[0])


def name_of(key: str) -> tuple[int, int, int]:
    """(period, log type index, part): how the simulator names its batch files."""
    period, type_index, part = key.rsplit("/", 1)[1].removesuffix(".json.gz").split("-")
    return int(period), int(type_index), int(part)


def corrupt(sim: SimulatorProcess, key: str, **how: Any) -> list[str]:
    """Serve the file broken from now on; the ground-truth ids of its records."""
    answer = sim.control.post("/_sim/files/corrupt", json={"file": key, **how})
    answer.raise_for_status()
    ids: list[str] = answer.json()["recordIds"]
    return ids


def read_with(workers: Workers, clocks: Clocks, between: Any) -> list[Page]:
    """Commit the first page (one whole file), do `between(first_page)`, read on to the end."""
    with closing(workers.fetcher().pages(SIEM_BATCH, start_cursor(SIEM_BATCH, clocks))) as pages:
        committed = [next(pages)]
        between(committed[0])
        committed.extend(pages)
    return committed


def test_a_url_that_expired_before_its_download_is_listed_again_once(
    simulator: SimulatorProcess, clocks: Clocks, workers: Workers
) -> None:
    # Given URLs that live two minutes, and a client whose clock has not noticed they expired
    simulator.configure(batch_url_ttl_seconds=120)
    pages = read_with(workers, clocks, lambda first: simulator.advance(300))
    # Then the next download met a 403, the listing was asked again once, and the read went on
    assert calls(simulator, "batch") == 2
    assert calls(simulator, "files") == len(pages) + 1
    assert not [gap for page in pages for gap in page.gaps]
    # And, reading on, the stream has every record made available, once
    clocks.client.advance(300)
    pages += drain(workers.fetcher(), SIEM_BATCH, pages[-1].end)
    assert Counter(truth_ids(pages)) == truth(simulator, SIEM_BATCH)


def test_a_url_the_client_knows_has_expired_is_listed_again_before_the_download(
    simulator: SimulatorProcess, clocks: Clocks, workers: Workers
) -> None:
    simulator.configure(batch_url_ttl_seconds=120)
    pages = read_with(workers, clocks, lambda first: clocks.advance(300))
    assert calls(simulator, "batch") == 2
    assert calls(simulator, "files") == len(pages)  # no 403 on the way


def test_a_file_still_missing_after_a_new_listing_is_a_gap_and_the_stream_goes_on(
    simulator: SimulatorProcess, clocks: Clocks, workers: Workers
) -> None:
    missing: list[str] = []

    def vanish(first: Page) -> None:
        missing.append(next_file(first))
        simulator.fault("files", status=404, count=2, body={"Code": "NoSuchKey"})

    pages = read_with(workers, clocks, vanish)
    # Then exactly that file is reported as a gap, once, after one fresh listing
    gaps = [gap for page in pages for gap in page.gaps]
    assert [gap.what for gap in gaps] == [f"SIEM batch file {missing[0]}"]
    assert "expired or is missing" in gaps[0].reason
    assert calls(simulator, "batch") == 2
    # And every other file was read: what is lost is that file's records, of its one log type
    got, expected = Counter(truth_ids(pages)), truth(simulator, SIEM_BATCH)
    assert not got - expected
    lost = expected - got
    assert lost
    assert {ident.split(":", 1)[1] for ident in lost} == {lost_type(missing[0])}
    assert pages[-1].finished


def lost_type(key: str) -> str:
    from simulator.records import SIEM_TYPES  # the simulator's own naming of its files

    return SIEM_TYPES[name_of(key)[1]]


def test_a_file_missing_once_is_read_from_a_fresh_listing_without_a_gap(
    simulator: SimulatorProcess, clocks: Clocks, workers: Workers
) -> None:
    pages = read_with(workers, clocks, lambda first: simulator.fault("files", status=404))
    assert not [gap for page in pages for gap in page.gaps]
    assert Counter(truth_ids(pages)) == truth(simulator, SIEM_BATCH)


def test_a_truncated_gzip_file_is_quarantined_where_it_breaks_and_the_rest_is_read(
    busy: SimulatorProcess,
) -> None:
    clocks = Clocks(busy)
    workers = Workers(busy, clocks.client)
    broken: dict[str, Any] = {}

    def truncate(first: Page) -> None:
        broken["key"] = a_large_file_to_come(first)
        broken["ids"] = corrupt(busy, broken["key"], mode="truncate")

    with closing(workers):
        pages = read_with(workers, clocks, truncate)
    # Then one quarantine entry names the file and the line where inflating stopped
    (entry,) = [q for page in pages for q in page.quarantined]
    assert entry.source == broken["key"]
    assert "ends in the middle of its gzip stream" in entry.reason
    # And the lines before it came out, the rest of the file is what is missing, other files are whole
    good = entry.position - 1
    assert 10 < good < len(broken["ids"])
    got, expected = Counter(truth_ids(pages)), truth(busy, SIEM_BATCH)
    assert expected - got == Counter(broken["ids"][good:])
    assert not got - expected
    assert pages[-1].finished


def test_a_line_that_is_not_json_is_quarantined_with_its_line_number_and_the_file_read_on(
    busy: SimulatorProcess,
) -> None:
    clocks = Clocks(busy)
    workers = Workers(busy, clocks.client)
    broken: dict[str, Any] = {}

    def break_line(first: Page) -> None:
        broken["key"] = a_large_file_to_come(first)
        size = len(corrupt(busy, broken["key"], mode="bad_line", line=0))
        broken["line"] = size // 2
        broken["ids"] = corrupt(busy, broken["key"], mode="bad_line", line=broken["line"])

    with closing(workers):
        pages = read_with(workers, clocks, break_line)
    (entry,) = [q for page in pages for q in page.quarantined]
    assert broken["line"] > 100
    assert (entry.source, entry.position) == (broken["key"], broken["line"] + 1)
    assert "not valid JSON" in entry.reason
    assert entry.text.startswith('{"type":"receipt","broken"')
    assert Counter(truth_ids(pages)) == truth(busy, SIEM_BATCH)


def test_a_url_listed_twice_in_a_page_is_read_once(
    simulator: SimulatorProcess, clocks: Clocks, workers: Workers
) -> None:
    simulator.configure(duplicate_url_rate=1.0)
    token = simulator.token()
    listing = simulator.control.get(
        "/siem/v1/batch/events/cg", headers={"Authorization": f"Bearer {token}", "X-Sim-Token": ""}
    ).json()
    urls = [file_key(item["url"]) for item in listing["value"]]
    assert len(urls) > len(set(urls))  # the simulator repeats a URL
    pages = drain(workers.fetcher(), SIEM_BATCH, start_cursor(SIEM_BATCH, clocks))
    assert Counter(truth_ids(pages)) == truth(simulator, SIEM_BATCH)
    assert calls(simulator, "files") == len(set(urls))


def read_traced(reader: BatchFileReader, url: str) -> tuple[list[tuple[int, int, bool]], int]:
    """(records, line, eof) of each chunk of the file, and the peak of traced memory while reading."""
    tracemalloc.start()
    try:
        file = BatchFile(key=file_key(url), url=url)
        chunks = [(len(chunk.records), chunk.line, chunk.eof) for chunk in reader.read(SIEM_BATCH, file, 0)]
        return chunks, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_bulk_file_is_read_whole_in_chunks_whose_memory_does_not_grow_with_the_file(
    simulator: SimulatorProcess, workers: Workers
) -> None:
    reader = BatchFileReader(workers.connect().client, max_records=100)
    peaks = []
    for lines in (2_000, 8_000):
        # Given a bulk batch file of receipt lines (about 800 bytes each, uncompressed)
        made = simulator.control.post("/_sim/files/bulk", json={"lines": lines, "measure": True})
        assert made.status_code == 201
        info = made.json()
        # When the client reads it in chunks of 100 records
        chunks, peak = read_traced(reader, info["url"])
        # Then every line came out, in full chunks
        assert sum(count for count, _, _ in chunks) == lines
        assert chunks[-1][1:] == (lines, True)
        assert all(count == 100 for count, _, _ in chunks[:-1])
        peaks.append((info["bytes"], peak))
    # And four times the file took no more memory, a small part of the larger file
    (small_file, small_peak), (large_file, large_peak) = peaks
    assert large_file > 3.9 * small_file
    assert large_peak < 1.2 * small_peak
    assert large_peak < large_file / 2


@pytest.mark.parametrize("body", [{"lines": 0}, {"lines": 10, "type": "fax"}, {"lines": 10**9}])
def test_a_bulk_file_the_simulator_cannot_make_is_refused(
    simulator: SimulatorProcess, body: dict[str, Any]
) -> None:
    assert simulator.control.post("/_sim/files/bulk", json=body).status_code == 400


def test_bulk_files_are_gone_after_a_reset(simulator: SimulatorProcess) -> None:
    url = simulator.control.post("/_sim/files/bulk", json={"lines": 5}).json()["url"]
    assert simulator.control.get(url).status_code == 200
    simulator.reset()
    assert simulator.control.get(url).status_code == 404

"""batchfiles: gzip NDJSON streamed and handed out in bounded chunks; bad lines quarantined."""

from __future__ import annotations

import gzip
import json
import tracemalloc
import zlib
from collections.abc import Iterable, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import CorruptFile
from core.mimecast.batchfiles import TooLong, chunks, gunzip, line_runs
from core.mimecast.records import parse_line
from core.mimecast.streams import SIEM_BATCH
from core.models import Quarantined, Record

KEY = "https://bucket.s3.example/siem/f1.gz"


def event(n: int) -> bytes:
    return json.dumps({"_partition": 1, "_offset": n, "type": "receipt", "subject": "x" * 40}).encode()


def ndjson(count: int) -> bytes:
    return b"\n".join(event(n) for n in range(count)) + b"\n"


def lines(pieces: Iterable[bytes], max_line: int = 1024) -> list[tuple[bytes, bool]]:
    """What `line_runs` hands out, one line at a time: (line, whether it was too long)."""
    return [(bytes(line), type(line) is TooLong) for run in line_runs(pieces, max_line) for line in run]


def split(data: bytes, size: int) -> Iterator[bytes]:
    return (data[start : start + size] for start in range(0, len(data), size))


@pytest.mark.parametrize("piece", [1, 7, 4096, 10**6])
def test_gzip_is_inflated_whatever_the_size_of_the_pieces_it_arrives_in(piece: int) -> None:
    data = ndjson(300)
    assert b"".join(gunzip(split(gzip.compress(data), piece))) == data


def test_a_file_of_several_gzip_members_is_read_to_its_end() -> None:
    data = gzip.compress(ndjson(3)) + gzip.compress(ndjson(2))
    assert b"".join(gunzip(split(data, 5))) == ndjson(3) + ndjson(2)


def test_a_file_already_inflated_by_the_transport_passes_through() -> None:
    assert b"".join(gunzip(split(ndjson(10), 3))) == ndjson(10)


@pytest.mark.parametrize(
    "damaged", [gzip.compress(ndjson(50))[:-30], b"\x1f\x8b" + b"\x00" * 40], ids=["truncated", "garbage"]
)
def test_a_file_that_cannot_be_inflated_is_reported_as_corrupt(damaged: bytes) -> None:
    with pytest.raises(CorruptFile):
        b"".join(gunzip([damaged]))


def test_lines_are_split_across_pieces_and_the_last_line_needs_no_newline() -> None:
    assert lines([b"ab", b"c\nd", b"e\n\nf"]) == [
        (b"abc", False),
        (b"de", False),
        (b"", False),
        (b"f", False),
    ]


def test_a_line_longer_than_the_limit_is_flagged_and_only_its_head_is_kept() -> None:
    assert lines([b"x" * 10, b"y" * 10 + b"\nok\n"], max_line=8) == [(b"x" * 8, True), (b"ok", False)]


MIXED = b"short\n" + b"L" * 30 + b"\n\n" + b"M" * 12 + b"\nok\n" + b"N" * 25 + b"\ntail"


@pytest.mark.parametrize("piece", [1, 3, 8, 11, 29, 1000])
def test_lines_are_the_same_whatever_the_pieces_and_lines_too_long_are_cut_wherever_they_fall(
    piece: int,
) -> None:
    # What a whole-file split says: each line, cut to the limit and flagged when longer
    expected = [(line[:12], len(line) > 12) for line in MIXED.split(b"\n")]
    got = lines(split(MIXED, piece), max_line=12)
    assert got == expected


@pytest.mark.parametrize("piece", [5, 64, 10**6])
def test_a_line_too_long_is_quarantined_at_its_position_and_reading_resumes_after_it(piece: int) -> None:
    data = event(1) + b"\n" + b"{" + b"x" * 300 + b"}\n" + event(2) + b"\n" + event(3) + b"\n"
    (chunk,) = chunks(SIEM_BATCH, KEY, split(data, piece), max_line=200)
    assert [record.raw["_offset"] for record in chunk.records] == [1, 2, 3]
    assert [(q.position, q.reason, len(q.text)) for q in chunk.quarantined] == [
        (2, "line longer than 200 bytes", 200)
    ]
    (resumed,) = chunks(SIEM_BATCH, KEY, split(data, piece), start_line=3, max_line=200)
    assert [record.raw["_offset"] for record in resumed.records] == [3]
    assert (resumed.quarantined, resumed.line, resumed.eof) == ((), 4, True)


def test_records_come_in_chunks_of_bounded_count_and_the_last_says_eof() -> None:
    got = list(chunks(SIEM_BATCH, KEY, [ndjson(10)], max_records=4))
    assert [len(chunk.records) for chunk in got] == [4, 4, 2]
    assert [(chunk.line, chunk.eof) for chunk in got] == [(4, False), (8, False), (10, True)]


def test_records_come_in_chunks_of_bounded_size() -> None:
    got = list(chunks(SIEM_BATCH, KEY, [ndjson(10)], max_bytes=len(event(0)) * 3))
    assert all(len(chunk.records) <= 3 for chunk in got)
    assert sum(len(chunk.records) for chunk in got) == 10


def test_reading_resumes_after_the_lines_already_handed_out() -> None:
    got = list(chunks(SIEM_BATCH, KEY, [ndjson(10)], start_line=7))
    assert [record.raw["_offset"] for record in got[0].records] == [7, 8, 9]
    assert (got[0].line, got[0].eof) == (10, True)


def test_resuming_at_the_end_of_a_file_gives_one_empty_last_chunk() -> None:
    got = list(chunks(SIEM_BATCH, KEY, [ndjson(3)], start_line=3))
    assert [(len(chunk.records), chunk.line, chunk.eof) for chunk in got] == [(0, 3, True)]


def test_an_empty_file_is_one_empty_last_chunk() -> None:
    assert [(c.records, c.line, c.eof) for c in chunks(SIEM_BATCH, KEY, gunzip([gzip.compress(b"")]))] == [
        ((), 0, True)
    ]


def test_a_bad_line_is_quarantined_with_its_position_and_the_rest_of_the_file_is_read() -> None:
    data = event(1) + b"\n{not json\n\n[1]\n" + event(2) + b"\n"
    (chunk,) = chunks(SIEM_BATCH, KEY, [data])
    assert [record.raw["_offset"] for record in chunk.records] == [1, 2]
    assert [(q.source, q.position) for q in chunk.quarantined] == [(KEY, 2), (KEY, 4)]
    assert "not valid JSON" in chunk.quarantined[0].reason
    assert chunk.quarantined[0].text == "{not json"
    assert chunk.line == 5


def test_a_corrupt_file_keeps_what_was_read_and_quarantines_the_rest() -> None:
    damaged = gzip.compress(ndjson(2000))[:-200]
    got = list(chunks(SIEM_BATCH, KEY, gunzip(split(damaged, 512)), max_records=500))
    assert got[-1].eof
    assert 0 < sum(len(chunk.records) for chunk in got) < 2000
    assert "rest of the file is skipped" in got[-1].quarantined[-1].reason


def lazily_gzipped(total_lines: int) -> Iterator[bytes]:
    """A large gzip file produced on the fly, never whole in memory."""
    deflater = zlib.compressobj(wbits=31)
    for start in range(0, total_lines, 1000):
        block = b"".join(event(n) + b"\n" for n in range(start, min(start + 1000, total_lines)))
        out = deflater.compress(block)
        if out:
            yield out
    yield deflater.flush()


def peak_memory_reading(total_lines: int) -> int:
    tracemalloc.start()
    try:
        seen = sum(
            len(c.records)
            for c in chunks(SIEM_BATCH, KEY, gunzip(lazily_gzipped(total_lines)), max_records=200)
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen == total_lines
    return peak


def test_memory_does_not_grow_with_the_size_of_the_file() -> None:
    # Given the same stream of records, once 0.5 MB and once eight times as long
    small, large = peak_memory_reading(5_000), peak_memory_reading(40_000)
    # Then reading the longer one takes no more memory (a few MiB for either)
    assert large < small * 1.5, f"{small / 2**20:.2f} MiB -> {large / 2**20:.2f} MiB"
    assert large < 4 * 1024 * 1024


def line_by_line(
    text: Iterable[bytes], start_line: int, max_records: int, max_bytes: int, max_line: int
) -> list[tuple[tuple[Record, ...], tuple[Quarantined, ...], int, bool]]:
    """The model of `chunks`: every line through `parse_line` in turn, a chunk cut before the line
    that finds it full (`max_records` entries, or `max_bytes` read)."""
    cut: list[tuple[tuple[Record, ...], tuple[Quarantined, ...], int, bool]] = []
    records: list[Record] = []
    quarantined: list[Quarantined] = []
    size = number = 0
    for run in line_runs(text, max_line):
        for line in run:
            number += 1
            if number <= start_line:
                continue
            if size >= max_bytes or len(records) + len(quarantined) >= max_records:
                cut.append((tuple(records), tuple(quarantined), number - 1, False))
                records, quarantined, size = [], [], 0
            if type(line) is TooLong:
                parsed: Record | Quarantined | None = Quarantined(
                    KEY, number, f"line longer than {max_line} bytes", line[:256].decode("utf-8", "replace")
                )
            else:
                parsed = parse_line(SIEM_BATCH, KEY, number, line)
            if isinstance(parsed, Record):
                records.append(parsed)
                size += len(line)
            elif parsed is not None:
                quarantined.append(parsed)
                size += len(parsed.text)
    cut.append((tuple(records), tuple(quarantined), max(number, start_line), True))
    return cut


LINES = st.sampled_from(
    [
        event(1),
        event(2) + b" " * 30,
        b"",
        b"not json",
        event(3).replace(b'"x', b'"\r'),
        b'{"_partition": 1, "_offset": 9, "type": "receipt", "note": "' + b"y" * 300 + b'"}',
        b'{"type": "receipt", "subject": "no coordinates"}',
        b"[1, 2]",
        '{"subject": "caf\u00e9"}'.encode(),
        b'{"subject": "\xff"}',
    ]
)


@given(
    st.lists(LINES, max_size=40),
    st.integers(1, 400),
    st.integers(0, 45),
    st.integers(1, 12),
    st.integers(1, 3000),
)
@settings(max_examples=300, deadline=None)
def test_chunks_are_what_reading_line_by_line_makes_of_the_file(
    file_lines: list[bytes], piece: int, start_line: int, max_records: int, max_bytes: int
) -> None:
    """Whole runs of good SIEM lines go through `siem_records` at once, a chunk's share at a time;
    the chunks, records, quarantined lines and positions are those of the line-by-line model."""
    data = b"\n".join(file_lines) + b"\n"
    got = [
        (c.records, c.quarantined, c.line, c.eof)
        for c in chunks(
            SIEM_BATCH,
            KEY,
            split(data, piece),
            start_line,
            max_records=max_records,
            max_bytes=max_bytes,
            max_line=200,
        )
    ]
    assert got == line_by_line(split(data, piece), start_line, max_records, max_bytes, 200)

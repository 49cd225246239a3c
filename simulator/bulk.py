"""Bulk SIEM batch files for benchmarks: as large as asked, made and gzipped while they are served.

A bulk file is not part of the dataset (nor of listings or the ground truth): `POST
/_sim/files/bulk` returns its pre-signed URL, and the file route streams it. Its lines are real
batch-file records of one log type, repeated with a fresh `_offset` each, so every line is a
distinct event; memory stays flat on the simulator's side too, whatever the size.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice

from simulator.dataset import Dataset
from simulator.records import SIEM_TYPES

PREFIX = "bulk-"
TEMPLATE_LINES = 1000
SEARCH_MINUTES = 24 * 60
OFFSET_HEAD = b'{"_offset":'


@dataclass(frozen=True)
class BulkFile:
    """`lines` lines of `log_type`, numbered from `first_offset`."""

    name: str
    log_type: str
    lines: int
    first_offset: int


class BulkFiles:
    """The bulk files made since the last reset, and their contents."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self.files: dict[str, BulkFile] = {}
        self._templates: dict[str, list[bytes]] = {}

    def add(self, lines: int, log_type: str) -> BulkFile:
        if log_type not in SIEM_TYPES:
            raise ValueError(f"unknown type {log_type!r}; types: {', '.join(SIEM_TYPES)}")
        if not 1 <= lines <= 50_000_000:
            raise ValueError("lines must be between 1 and 50000000")
        number = len(self.files)
        name = f"{PREFIX}{number}"
        # Offsets far past any dataset record: bulk events never collide with real ones.
        file = BulkFile(name, log_type, lines, first_offset=10**15 + number * 10**11)
        self.files[name] = file
        return file

    def _template(self, log_type: str) -> list[bytes]:
        """The tails (after the `_offset` value) of real records of the type, from the backlog."""
        cached = self._templates.get(log_type)
        if cached is not None:
            return cached
        tails: list[bytes] = []
        first = self.dataset.origin_minute
        for minute in range(first, first + SEARCH_MINUTES):
            for record in self.dataset.minute("siem", minute):
                if record.kind == log_type and record.raw.startswith(OFFSET_HEAD):
                    tails.append(record.raw[record.raw.index(b",", len(OFFSET_HEAD)) :])
            if len(tails) >= TEMPLATE_LINES:
                break
        if not tails:
            raise ValueError(f"no {log_type!r} record in the backlog to build a bulk file from")
        self._templates[log_type] = tails[:TEMPLATE_LINES]
        return self._templates[log_type]

    def lines(self, file: BulkFile) -> Iterator[bytes]:
        tails = self._template(file.log_type)
        for index in range(file.lines):
            yield OFFSET_HEAD + str(file.first_offset + index).encode() + tails[index % len(tails)] + b"\n"

    def size(self, file: BulkFile) -> int:
        """Uncompressed bytes."""
        return sum(len(line) for line in self.lines(file))

    def gzip(self, file: BulkFile) -> Iterator[bytes]:
        """The gzip body, compressed block by block as it is sent."""
        compressor = zlib.compressobj(1, zlib.DEFLATED, 31)
        lines = self.lines(file)
        while block := b"".join(islice(lines, 2000)):
            if out := compressor.compress(block):
                yield out
        yield compressor.flush()

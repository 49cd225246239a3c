"""SIEM batch files: which exist, when each is published, what it holds, and its pre-signed URL.

One file per log type per period (split in parts past `batch_max_lines`), published `lag` plus a
per-file jitter after its period ends, so files of one period can appear after a caught-up listing.
Files are listed in publication order; a file's publication key orders them and is all a token needs.
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from threading import Lock

from simulator.dataset import MINUTE_MS, Dataset, Record
from simulator.records import SIEM_TYPES
from simulator.settings import SimulatorSettings

PublicationKey = tuple[int, int, int, int]  # (published at ms, period, type index, part)


@dataclass(frozen=True, slots=True)
class BatchFile:
    period: int
    type_index: int
    part: int
    published_ms: int
    prefix: str = ""  # names the family: "" for SIEM (cg), "ci-" for Cloud Integrated

    @property
    def key(self) -> PublicationKey:
        return (self.published_ms, self.period, self.type_index, self.part)

    @property
    def name(self) -> str:
        return f"{self.prefix}{self.period}-{self.type_index}-{self.part}"


class BatchStore:
    """The files of one dataset, their contents (built once, cached) and URL signatures."""

    def __init__(
        self,
        settings: SimulatorSettings,
        dataset: Dataset,
        secret: bytes,
        *,
        collection: str = "siem",
        types: tuple[str, ...] = SIEM_TYPES,
        prefix: str = "",
    ) -> None:
        self.collection, self.types, self.prefix = collection, types, prefix
        self.settings = settings
        self.dataset = dataset
        self.period_ms = settings.batch_period_minutes * MINUTE_MS
        self.lag_ms = int(settings.batch_lag_minutes * MINUTE_MS)
        self.jitter_ms = int(settings.batch_jitter_minutes * MINUTE_MS)
        self.secret = secret
        self.period_files = lru_cache(maxsize=20_000)(self._period_files)
        self._bodies: OrderedDict[str, bytes] = OrderedDict()
        self._body_bytes = 0
        self._lock = Lock()

    def period_records(self, period: int, type_index: int) -> list[Record]:
        kind = self.types[type_index]
        first_minute = period * self.period_ms // MINUTE_MS
        minutes = range(first_minute, first_minute + self.period_ms // MINUTE_MS)
        return [
            record
            for minute in minutes
            for record in self.dataset.minute(self.collection, minute)
            if record.kind == kind
        ]

    def _period_files(self, period: int) -> tuple[BatchFile, ...]:
        files = []
        first_minute = period * self.period_ms // MINUTE_MS
        counts = [0] * len(self.types)
        for minute in range(first_minute, first_minute + self.period_ms // MINUTE_MS):
            for record in self.dataset.minute(self.collection, minute):
                counts[self.types.index(record.kind)] += 1
        for type_index, count in enumerate(counts):
            parts = -(-count // self.settings.batch_max_lines)
            for part in range(parts):
                jitter = self._jitter(period, type_index, part)
                published = (period + 1) * self.period_ms + self.lag_ms + jitter
                files.append(BatchFile(period, type_index, part, published, self.prefix))
        return tuple(files)

    def _jitter(self, period: int, type_index: int, part: int) -> int:
        if self.jitter_ms == 0:
            return 0
        material = f"{self.dataset.seed}:{self.prefix}{period}:{type_index}:{part}"
        digest = hashlib.blake2b(material.encode(), digest_size=8)
        return int.from_bytes(digest.digest()) % self.jitter_ms

    def retention_start(self, now_ms: int) -> int:
        return now_ms - self.settings.batch_retention_days * 86_400_000

    def published(
        self,
        now_ms: int,
        after: PublicationKey | None,
        types: set[int],
        from_ms: int,
        until_ms: int | None,
        retained_at: int | None = None,
    ) -> list[BatchFile]:
        """Files published by `now_ms` after `after`, of the given types, whose period starts in range
        and was retained at `retained_at` (default: now)."""
        origin_period = self.dataset.origin_minute * MINUTE_MS // self.period_ms
        retention = self.retention_start(now_ms if retained_at is None else retained_at)
        lowest = max(from_ms // self.period_ms, retention // self.period_ms, origin_period)
        first = lowest
        if after is not None:
            first = max(first, (after[0] - self.lag_ms - self.jitter_ms) // self.period_ms - 1)
        last = (now_ms - self.lag_ms) // self.period_ms - 1
        if until_ms is not None:
            last = min(last, (until_ms - 1) // self.period_ms)
        found = [
            file
            for period in range(first, last + 1)
            for file in self.period_files(period)
            if file.type_index in types
            and file.published_ms <= now_ms
            and (after is None or file.key > after)
        ]
        return sorted(found, key=lambda file: file.key)

    def available(self, file: BatchFile, now_ms: int) -> bool:
        """Published and not yet past retention."""
        retained = file.period >= self.retention_start(now_ms) // self.period_ms
        return file.published_ms <= now_ms and retained

    def find(self, name: str) -> BatchFile | None:
        if not name.startswith(self.prefix) or (not self.prefix and not name[:1].isdigit()):
            return None
        try:
            period, type_index, part = (int(piece) for piece in name.removeprefix(self.prefix).split("-"))
        except ValueError:
            return None
        for file in self.period_files(period):
            if (file.type_index, file.part) == (type_index, part):
                return file
        return None

    def lines(self, file: BatchFile) -> list[bytes]:
        rows = self.period_records(file.period, file.type_index)
        size = self.settings.batch_max_lines
        return [record.raw for record in rows[file.part * size : (file.part + 1) * size]]

    def records(self, file: BatchFile) -> list[Record]:
        size = self.settings.batch_max_lines
        return self.period_records(file.period, file.type_index)[file.part * size : (file.part + 1) * size]

    def body(self, file: BatchFile) -> bytes:
        """The gzip NDJSON content, built once and kept in a bounded cache."""
        with self._lock:
            cached = self._bodies.get(file.name)
            if cached is not None:
                self._bodies.move_to_end(file.name)
                return cached
        content = gzip.compress(b"".join(line + b"\n" for line in self.lines(file)), compresslevel=5, mtime=0)
        with self._lock:
            self._bodies[file.name] = content
            self._body_bytes += len(content)
            while self._body_bytes > 512 * 1024 * 1024 and len(self._bodies) > 1:
                _, dropped = self._bodies.popitem(last=False)
                self._body_bytes -= len(dropped)
        return content

    def signature(self, name: str, validity: str) -> str:
        """The URL signature over the file name and its validity (signing time and lifetime)."""
        return hmac.new(self.secret, f"{name}:{validity}".encode(), hashlib.sha256).hexdigest()

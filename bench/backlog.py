"""A frozen backlog in the simulator, its ground truth, and what a file destination holds of it.

The simulator's clock is frozen ten minutes behind real time: every record was made before the
streams' lag (DLP and audit read up to a few seconds ago), so the pipeline must deliver the
whole ground truth, exactly what the reference loop copies. Rates spread the asked number of records
over six hours: most of them SIEM (as in a real tenant), the rest shared by DLP, audit and the hold
list. Quotas are out of the way; faults, duplicate URLs in listings and the rest stay as they are.

The destination is read as the README documents it (`DIR/<source>/<collection>/<date>/<batch>.ndjson`,
one record a line with its `id` and the record as `message`), never through our code. Each line's
record is matched to the ground truth by the simulator's id rule (SIEM `aggregateId:type`, DLP
`messageId`, audit and hold `id`), so the check holds whatever id the product gives a record.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.support.simulator import SimulatorProcess

COLLECTIONS = ("siem", "dlp", "auditEvent", "holdMessageList")
SHARES = {"siem": 0.82, "dlp": 0.06, "auditEvent": 0.06, "holdMessageList": 0.06}
BACKLOG_HOURS = 6
BEHIND_REAL_TIME = timedelta(minutes=10)
UNLIMITED = (10_000_000, 60)
LAYOUT = "*/*/*/*.ndjson"


def frozen_backlog(directory: Path, records: int) -> SimulatorProcess:
    """A started simulator holding about `records` records over the four collections."""
    directory.mkdir(parents=True, exist_ok=True)
    minutes = BACKLOG_HOURS * 60
    rates = {name: max(1, -(-round(records * share) // minutes)) for name, share in SHARES.items()}
    start = datetime.now(UTC).replace(microsecond=0) - BEHIND_REAL_TIME
    sim = SimulatorProcess(
        directory,
        start=start.isoformat(),
        clock_frozen=True,
        backlog_hours=BACKLOG_HOURS,
        collection_rates=rates,
        quota_batch=UNLIMITED,
        quota_api=UNLIMITED,
        quota_streaming=UNLIMITED,
        batch_lag_minutes=0,
        batch_jitter_minutes=0,
        hold_minutes_min=3000,  # nothing is released while the benchmark runs
        hold_minutes_max=3100,
    )
    sim.start()
    return sim


@dataclass(frozen=True)
class Truth:
    """The id of every record the simulator made available, per collection."""

    ids: dict[str, list[str]]

    @classmethod
    def of(cls, sim: SimulatorProcess) -> Truth:
        return cls({name: sim.truth(name) for name in COLLECTIONS})

    @property
    def total(self) -> int:
        return sum(len(ids) for ids in self.ids.values())

    def describe(self) -> str:
        parts = ", ".join(f"{name} {len(ids):,}" for name, ids in self.ids.items())
        return f"{parts} = {self.total:,} records"


def truth_key(collection: str, record: Any) -> str:
    """The simulator's ground-truth id of a record, from its own fields."""
    if not isinstance(record, dict):
        return f"<not an object: {str(record)[:40]}>"
    if collection == "siem":
        return f"{record.get('aggregateId')}:{record.get('type') or record.get('eventType')}"
    if collection == "dlp":
        return str(record.get("messageId"))
    return str(record.get("id"))


class DestinationWatch:
    """Counts the lines of a file destination as batch files appear (each file is read once)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.lines = 0
        self.files = 0
        self.last_write = 0.0  # epoch seconds: the newest batch file's modification time
        self.last_change = time.monotonic()
        self._seen: set[Path] = set()

    def poll(self) -> int:
        for path in self.root.glob(LAYOUT):
            if path in self._seen:
                continue
            self._seen.add(path)
            self.lines += path.read_bytes().count(b"\n")
            self.files += 1
            self.last_write = max(self.last_write, path.stat().st_mtime)
            self.last_change = time.monotonic()
        return self.lines


@dataclass
class Delivery:
    """What a destination holds, checked against the ground truth."""

    lines: int = 0
    ids: set[str] = field(default_factory=set)
    missing: int = 0
    duplicated: int = 0  # copies beyond the first of a record
    foreign: int = 0  # lines whose record the ground truth does not have

    @property
    def exactly_once(self) -> bool:
        return (
            self.missing == 0 and self.duplicated == 0 and self.foreign == 0 and len(self.ids) == self.lines
        )

    def describe(self, truth: Truth) -> str:
        verdict = "yes" if self.exactly_once else "NO"
        return (
            f"exactly once: {verdict} ({self.lines:,} lines, {len(self.ids):,} distinct ids, "
            f"{truth.total:,} records in the ground truth; missing {self.missing:,}, "
            f"duplicated {self.duplicated:,}, not in the truth {self.foreign:,})"
        )


def check_destination(root: Path, truth: Truth) -> Delivery:
    """Read every line of the destination under `root` and compare it with the ground truth."""
    delivery = Delivery()
    seen: Counter[tuple[str, str]] = Counter()
    for path in sorted(root.glob(LAYOUT)):
        collection = path.relative_to(root).parts[1]
        with path.open("rb") as handle:
            for line in handle:
                item = json.loads(line)
                delivery.lines += 1
                delivery.ids.add(str(item.get("id")))
                seen[(collection, truth_key(collection, item.get("message", item)))] += 1
    expected = Counter((name, key) for name, ids in truth.ids.items() for key in ids)
    delivery.missing = sum((expected - seen).values())
    extra = seen - expected
    delivery.foreign = sum(count for key, count in extra.items() if key not in expected)
    delivery.duplicated = sum(count for key, count in extra.items() if key in expected)
    return delivery


def disk_usage(root: Path) -> int:
    return sum(os.path.getsize(path) for path in root.glob(LAYOUT))

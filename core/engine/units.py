"""Units of work: a stream's own cursor, or one of its children. Pure: no I/O here.

A stream is one collection of one source (`source:collection`). Its children are the work it hands
out to run in parallel: one per SIEM batch file of a listing (`source:siem@f.<digest of the file
key>`) and one per sub-window of a windowed backfill (`source:dlp@w.<start, epoch s>`). Every unit
has its own lease, epoch and checkpoint; children also hold one of the source's in-flight slots.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.models import digest

FILE = "f"
WINDOW = "w"
_KINDS = (FILE, WINDOW)


@dataclass(frozen=True)
class Unit:
    """A parsed unit id; `child` is None for the stream itself."""

    source_id: str
    collection: str
    child: str | None = None

    @property
    def id(self) -> str:
        stream = f"{self.source_id}:{self.collection}"
        return stream if self.child is None else f"{stream}@{self.child}"

    @property
    def stream(self) -> str:
        """The id of the stream this unit belongs to."""
        return f"{self.source_id}:{self.collection}"

    @property
    def is_child(self) -> bool:
        return self.child is not None

    def __str__(self) -> str:
        return self.id


def parse(unit_id: str) -> Unit:
    """The unit an id names; ValueError for anything else."""
    source_id, separator, rest = unit_id.partition(":")
    collection, at, child = rest.partition("@")
    if not separator or not source_id or not collection:
        raise ValueError(f"not a unit id: {unit_id!r}")
    if at and (not child or child.split(".", 1)[0] not in _KINDS or "." not in child):
        raise ValueError(f"not a unit id: {unit_id!r}")
    return Unit(source_id, collection, child if at else None)


# Broker priorities (Redis: 0 is served first; kombu's steps are 0, 3, 6 and 9). Other tasks (a
# source's start, `dispatch`) keep Celery's default, 0: a source that starts is not kept waiting
# behind collection work.
STREAM_PRIORITY = 3
WINDOW_PRIORITY = 6
FILE_PRIORITY = 9
# A sub-window waits for a slot as if handed out this long before the files handed out with it.
WINDOW_AHEAD_MS = 3_600_000
# How kombu's Redis transport keeps a queue's messages (pinned in `worker.config`): one list per
# priority step, `<queue><sep><step>` (step 0: the queue's own name), read in step order.
BROKER_QUEUE = "celery"
PRIORITY_STEPS = (0, 3, 6, 9)
PRIORITY_SEP = "\x06\x16"


def priority(unit_id: str) -> int:
    """Which chain a worker takes first when several wait: a stream's own, then its source's
    sub-windows, then its files, first come first served among each.

    A stream's chain is one sequential thread (a listing, a live window, the hold list, which never
    splits); nothing but running it sooner makes it finish sooner. Read FIFO from one queue, a
    stream's next page waited behind every file queued before it. A sub-window is such a thread
    too, bound by Mimecast's answers: with sub-windows and files at one priority, a process that
    carried on from file to file (`tasks.chains`, without the broker) left a sub-window queued at
    the start behind every file queued before it, and the drain ended on its pages alone with the
    other process idle (bench ab, 2 processes: median drain 2.93 -> 2.72 s with sub-windows first;
    P5 7.03x). The files keep a share of the slots all along (`fanout.split_width`); which child
    gets a free slot first is `queue_order`'s.
    """
    if "@" not in unit_id:
        return STREAM_PRIORITY
    return WINDOW_PRIORITY if _sub_window(unit_id) else FILE_PRIORITY


def queue_order(unit_id: str, now: float) -> int:
    """Where a child handed out at `now` waits for one of its source's slots (lowest first): the
    time in milliseconds, a sub-window `WINDOW_AHEAD_MS` earlier (a run of pages before single
    files, so that the drain does not end on a few sub-windows alone)."""
    return int(now * 1000) - (WINDOW_AHEAD_MS if _sub_window(unit_id) else 0)


def _sub_window(unit_id: str) -> bool:
    return unit_id.partition("@")[2].startswith(f"{WINDOW}.")


def broker_lists_before(level: int) -> list[str]:
    """The broker's lists a worker reads before the chains of priority `level`: where a chain (or a
    start, or `dispatch`) that should run before it would wait."""
    steps = [step for step in PRIORITY_STEPS if step < level]
    return [f"{BROKER_QUEUE}{PRIORITY_SEP}{step}" if step else BROKER_QUEUE for step in steps]


def first_served(unit_ids: list[str]) -> list[str]:
    """The units in the order a worker should run them: by `priority`, otherwise as given."""
    return sorted(unit_ids, key=priority)


def file_child(stream: Unit, file_key: str) -> Unit:
    """The child that reads one SIEM batch file: the same file always gives the same unit."""
    return Unit(stream.source_id, stream.collection, f"{FILE}.{digest(file_key)}")


def window_child(stream: Unit, start: datetime) -> Unit:
    """The child that reads the sub-window starting at `start`."""
    return Unit(stream.source_id, stream.collection, f"{WINDOW}.{int(start.timestamp())}")

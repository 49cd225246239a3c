"""SIEM mode, decided purely: which reading a SIEM stream does now (batch files or the streaming
endpoint), from which checkpoint, and when it switches between them.

Why the switch rests on time boundaries, not on record ids. A batch-file line and the streaming
event of the same Mimecast event have different ids here (`IdRule.SIEM`): a batch line carries
Kafka-style `_partition`/`_offset`, which make its id, while a streaming event has neither and is
identified by a digest of its text, which differs anyway (`eventType`/`subType` against
`type`/`subtype`, and which endpoint uses which naming is unconfirmed, spec 5.5). No id can be
trusted to match across the two shapes, so nothing is de-duplicated across them. Instead every
switch fixes one instant: batch hands out only records timed before it, streaming only records
timed at or after it (by the event's `timestamp`, epoch ms, the same field in both shapes). Each
record falls on exactly one side, so none is handed out twice and none is skipped.

- Batch to streaming (a handover at `at`). Batch children made from then on carry `until=at`. A
  file listed before `at` was fixed was published before it, so it holds only records timed before
  it. Records timed before `at` may still sit in files published later (files appear 10 to 20
  minutes after their period, whose length is itself unconfirmed: 15 minutes or an hour), so the
  stream lists on until a caught-up listing is read `settle` after `at` (`listed`), waits until
  every child of its listings has finished (`children`), and only then starts streaming from `at`.
  A stream that never listed (a new stream or a reset) has run no child, so its `at` can lie
  `settle` in the past: the handover is ready as soon as the batch files are read.
- Streaming to batch (a PUT to `batch`, an outage longer than the reach, a quota fallback). Only at
  a window edge (an open window is read to its end first): the streaming cursor's `edge`, the end of
  the last window it closed, is where batch starts (`since`); files are listed from that day on.
  `since` is dropped once files listed later can hold no older record: after a caught-up listing
  read `settle` after it (`listed`).
- A handover undone (a PUT to `batch`, or a point that fell out of the streaming reach): once it is
  settled (every record before `at` has been handed out), batch lists again from where it stood
  when `at` was fixed, handing out only records from `at` on.

A record whose time cannot be read is handed out by both sides (it has no side to fall on).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from core.lifecycle import health
from core.lifecycle.health import HealthEvent, ResourceIdentity
from core.mimecast import paging, windows
from core.mimecast.streams import SIEM_BATCH, SIEM_STREAMING, StreamSpec
from core.models import BatchCursor, Cursor, Handover, SiemMode, WindowCursor

FALLBACK_EVENT = "SiemStreamingFallback"


@dataclass(frozen=True)
class Limits:
    """The figures the decision works with; `settle` and `behind` are deployment settings."""

    # How far back streaming reads: Mimecast serves 24 hours, less the spec's margin.
    reach: timedelta = SIEM_STREAMING.max_lookback or timedelta(hours=23, minutes=50)
    # A record is in a listed batch file at most this long after its time. Unconfirmed: 15-minute
    # periods published 10 to 20 minutes after them need 35 minutes; hourly ones 80. Both fit.
    settle: timedelta = timedelta(minutes=90)
    # A 429 pause that leaves streaming this far behind means it cannot keep up within its quota.
    behind: timedelta = timedelta(minutes=15)
    # After such a fallback, batch files for at least this long (the quota's window, an hour).
    hold: timedelta = timedelta(hours=1)
    # Where a new stream starts without `collectFrom`: the SIEM collection's lookback (a day).
    lookback: timedelta = SIEM_BATCH.lookback


@dataclass(frozen=True)
class Quota:
    """What is known of the streaming endpoint's quota for the source's client id: the end of a
    429 pause in force (spec 4: 300 calls an hour, per application; partial confidence)."""

    paused_until: datetime | None = None


class Reading(StrEnum):
    BATCH = "batch"  # list batch files (or read the one a cursor stopped in)
    STREAMING = "streaming"  # page the streaming endpoint
    WAIT = "wait"  # a handover waits for the batch children to finish: nothing to read now


@dataclass(frozen=True)
class Plan:
    """What the stream does now: `cursor` is its checkpoint (commit it first when `changed`)."""

    reading: Reading
    cursor: Cursor
    changed: bool = False
    warning: str | None = None  # a fallback to report in a Warning health event
    note: str | None = None  # a switch worth a log line

    @property
    def spec(self) -> StreamSpec:
        return SIEM_STREAMING if self.reading is Reading.STREAMING else SIEM_BATCH


def _second(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


def _midnight(cursor: BatchCursor) -> datetime | None:
    day = cursor.start_date
    return datetime.combine(day, time.min, tzinfo=UTC) if day is not None else None


def initial(mode: SiemMode, now: datetime, limits: Limits, collect_from: datetime | None = None) -> Cursor:
    """Where a new (or reset) SIEM stream starts: `auto` streams when the start is inside the
    streaming reach and lists batch files otherwise."""
    if mode is SiemMode.STREAMING:
        return windows.initial_cursor(SIEM_STREAMING, now, collect_from=collect_from)
    if mode is SiemMode.AUTO:
        start = collect_from if collect_from is not None else now - limits.lookback
        if start >= now - limits.reach:
            return windows.initial_cursor(SIEM_STREAMING, now, collect_from=start)
    return windows.initial_cursor(SIEM_BATCH, now, collect_from=collect_from)


def plan(
    mode: SiemMode,
    stored: Cursor | None,
    now: datetime,
    limits: Limits,
    quota: Quota,
    children: int,
    collect_from: datetime | None = None,
) -> Plan:
    """The reading of the SIEM stream now. `children` counts its batch children not finished yet
    (waiting or running); `stored` is its checkpoint (None before the first)."""
    if stored is None:
        found = _plan(mode, initial(mode, now, limits, collect_from), now, limits, quota, children)
        return replace(found, changed=True)
    return _plan(mode, stored, now, limits, quota, children)


def _plan(mode: SiemMode, cursor: Cursor, now: datetime, limits: Limits, quota: Quota, children: int) -> Plan:
    if isinstance(cursor, WindowCursor):
        return _from_streaming(mode, cursor, now, limits, quota)
    return _from_batch(mode, cursor, now, limits, children)


def edge_of(cursor: WindowCursor) -> datetime:
    """Where a streaming cursor between windows stands: every record timed before it was handed out."""
    return max(moment for moment in (cursor.edge, cursor.since, cursor.start) if moment is not None)


def _to_batch(boundary: datetime, run: int, streaming_after: datetime | None = None) -> BatchCursor:
    return BatchCursor(start_date=boundary.date(), since=boundary, streaming_after=streaming_after, run=run)


def _from_streaming(
    mode: SiemMode, cursor: WindowCursor, now: datetime, limits: Limits, quota: Quota
) -> Plan:
    if cursor.end is not None or mode is SiemMode.STREAMING:
        return Plan(Reading.STREAMING, cursor)  # an open window is read to its end first
    boundary = edge_of(cursor)
    if mode is SiemMode.BATCH:
        return Plan(
            Reading.BATCH,
            _to_batch(boundary, cursor.run),
            True,
            note="siemMode batch: files from the edge on",
        )
    if boundary < now - limits.reach:
        note = "streaming fell behind its reach: batch files from its edge"
        return Plan(Reading.BATCH, _to_batch(boundary, cursor.run), True, note=note)
    paused = quota.paused_until
    if paused is not None and paused > now and paused - boundary > limits.behind:
        behind = windows.span(_second(paused) - _second(boundary))
        warning = (
            f"SIEM streaming cannot keep up within its quota: rate limited until "
            f"{windows.format_time(SIEM_STREAMING.time_format, paused)}, it would be {behind} behind; "
            f"reading batch files from {windows.format_time(SIEM_STREAMING.time_format, boundary)}, "
            f"streaming again after {windows.span(limits.hold)} once batch is caught up"
        )
        return Plan(
            Reading.BATCH, _to_batch(boundary, cursor.run, _second(now + limits.hold)), True, warning=warning
        )
    return Plan(Reading.STREAMING, cursor)


def _from_batch(mode: SiemMode, cursor: BatchCursor, now: datetime, limits: Limits, children: int) -> Plan:
    handover = cursor.handover
    if (
        handover is not None
        and handover.settled
        and (mode is SiemMode.BATCH or handover.at < now - limits.reach)
    ):
        # Only once settled: every record before the point has been handed out by then.
        return Plan(Reading.BATCH, _undo(cursor, handover), True, note="handover to streaming undone")
    if handover is None:
        cooling = cursor.streaming_after is not None and now < cursor.streaming_after
        if mode is SiemMode.BATCH or (mode is SiemMode.AUTO and cooling):
            return Plan(Reading.BATCH, cursor)
        at = _handover_at(cursor, now, limits, children)
        if at is None:
            return Plan(Reading.BATCH, cursor)
        fixed = Handover(at, cursor.token, None if cursor.token else cursor.start_date)
        return Plan(Reading.BATCH, replace(cursor, until=at, handover=fixed), True)
    if not handover.settled or mode is SiemMode.BATCH or handover.at < now - limits.reach:
        return Plan(Reading.BATCH, cursor)
    if children > 0:
        return Plan(Reading.WAIT, cursor)
    streaming = WindowCursor(start=handover.at, since=handover.at, run=cursor.run)
    return Plan(Reading.STREAMING, streaming, True, note="handed over to streaming")


def _handover_at(cursor: BatchCursor, now: datetime, limits: Limits, children: int) -> datetime | None:
    """When a batch stream may fix its handover point, and where: `settle` back for one that never
    listed (no child ever ran), now for one whose listing is caught up; else not yet."""
    start = _midnight(cursor)
    if cursor.token is None and not cursor.files and start is not None and children == 0:
        # Never after `since`: streaming delivered what came before it.
        return max(_second(now - limits.settle), start, cursor.since or start)
    if paging.batch_finished(cursor) and cursor.token is not None:
        return _second(now)
    return None


def _undo(cursor: BatchCursor, handover: Handover) -> BatchCursor:
    """List again from where the listing stood when the handover was fixed, from `at` on."""
    return BatchCursor(
        token=handover.token,
        start_date=None if handover.token else handover.start_date,
        since=handover.at,
        streaming_after=cursor.streaming_after,
        run=cursor.run,
    )


def listed(cursor: Cursor, now: datetime, limits: Limits) -> Cursor:
    """After a listing page read at `now`. A caught-up listing read `settle` after an instant has
    listed every file holding a record timed before it; the files listed after it were published
    later and hold none. So a handover is then settled, and `since` is no longer needed."""
    if not isinstance(cursor, BatchCursor) or not paging.batch_finished(cursor):
        return cursor
    handover = cursor.handover
    if handover is not None and not handover.settled and now >= handover.at + limits.settle:
        cursor = replace(cursor, handover=replace(handover, settled=True))
    if cursor.since is not None and now >= cursor.since + limits.settle:
        cursor = replace(cursor, since=None)
    return cursor


def spec_of(cursor: Cursor | None) -> StreamSpec:
    """The SIEM spec that reads a stored checkpoint: its kind tells the reading."""
    return SIEM_STREAMING if isinstance(cursor, WindowCursor) else SIEM_BATCH


def progress(mode: SiemMode, cursor: Cursor | None, now: datetime) -> dict[str, Any]:
    """What the progress view says of a SIEM stream's reading."""
    shown: dict[str, Any] = {"siemMode": mode.value, "reading": None, "handoverAt": None, "note": None}
    fmt = SIEM_STREAMING.time_format
    if isinstance(cursor, WindowCursor):
        shown["reading"] = Reading.STREAMING.value
        return shown
    if cursor is None:
        return shown
    shown["reading"] = Reading.BATCH.value
    if cursor.handover is not None:
        shown["handoverAt"] = windows.format_time(fmt, cursor.handover.at)
        state = "waiting for the batch files before it" if not cursor.handover.settled else "finishing"
        shown["note"] = f"handing over to streaming at {shown['handoverAt']}: {state}"
    elif cursor.streaming_after is not None and now < cursor.streaming_after:
        after = windows.format_time(fmt, cursor.streaming_after)
        shown["note"] = f"streaming could not keep up within its quota: batch files until at least {after}"
    return shown


def fallback_event(
    description: str,
    resource: ResourceIdentity,
    now: datetime,
    new_id: str,
    *,
    open_events: dict[str, HealthEvent],
) -> HealthEvent:
    """A Warning: the SIEM stream went back to batch files because streaming could not keep up
    within its quota. Nothing is lost; one stays open per source (refreshed by the next)."""
    title = "SIEM streaming fell back to batch files"
    return health.standing_warning(FALLBACK_EVENT, title, description, resource, now, new_id, open_events)

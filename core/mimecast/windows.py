"""Time windows: where a stream starts, when its next window opens, how a window closes.

Pure: no I/O here. A window `[start, end)` reaches up to the present, less the spec's few seconds
of `lag`. It moves only after its last page, and moving clears the page token. The next window
starts `overlap` before the previous end (`read_to`): a record Mimecast indexes late, up to the
overlap, is inside it, and so is the boundary whichever way the endpoint reads it; the ids handed
out that are timed inside the overlap are remembered in the cursor (`KnownIds`, committed with
it) and not handed out twice. The next window opens once it reaches `min_window` past `read_to`.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

from core.mimecast.streams import Dedupe, PagingKind, StreamSpec, TimeFormat
from core.models import BatchCursor, Cursor, Gap, WindowCursor


def format_time(time_format: TimeFormat, value: datetime) -> str:
    """A window bound as the endpoint wants it written."""
    if value.tzinfo is None:
        raise ValueError("window bounds must be timezone-aware")
    utc = value.astimezone(UTC)
    if time_format is TimeFormat.DATE:
        return utc.strftime("%Y-%m-%d")
    if time_format is TimeFormat.ISO_MS_Z:
        return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
    if time_format is TimeFormat.ISO_Z:
        return utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    return utc.strftime("%Y-%m-%dT%H:%M:%S+0000")


def _second(value: datetime) -> datetime:
    return value.replace(microsecond=0)


def span(length: timedelta) -> str:
    """A span as people write it: `59 days`, `7 days`, `23 hours 50 minutes`, `1 hour`."""
    minutes = int(length.total_seconds() // 60)
    days, hours, minutes = minutes // 1440, minutes % 1440 // 60, minutes % 60
    parts = [(days, "day"), (hours, "hour"), (minutes, "minute")]
    words = [f"{n} {unit}{'s' if n != 1 else ''}" for n, unit in parts if n]
    return " ".join(words) or "0 minutes"


DURATION = re.compile(r"^([1-9][0-9]{0,5})([mhdw])$")
UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


def collect_start(collect_from: str | None, now: datetime) -> datetime | None:
    """Where a source's `collectFrom` asks its new streams to start. Pure.

    `collectFrom` is an ISO 8601 time with a time zone (`2026-11-01T00:00:00Z`) or a duration back
    from now: a whole number of minutes, hours, days or weeks (`90m`, `12h`, `7d`, `2w`). ValueError
    names what is wrong; a time in the future is refused.
    """
    if collect_from is None:
        return None
    text = collect_from.strip()
    found = DURATION.match(text)
    if found:
        try:
            return now - int(found.group(1)) * UNITS[found.group(2)]
        except OverflowError:
            raise ValueError("reaches back before the first year a date can hold") from None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(
            "must be an ISO 8601 time with a time zone (2026-11-01T00:00:00Z) "
            "or a duration such as 7d, 12h, 2w"
        ) from None
    if moment.tzinfo is None:
        raise ValueError("needs a time zone, e.g. 2026-11-01T00:00:00Z")
    if moment > now:
        raise ValueError("is in the future")
    return moment.astimezone(UTC)


def _reach(spec: StreamSpec, now: datetime) -> datetime | None:
    return _second(now - spec.max_lookback) if spec.max_lookback is not None else None


def reach_gap(spec: StreamSpec, since: datetime, now: datetime) -> Gap | None:
    """The part of `[since, now)` that Mimecast no longer serves, or that a new stream skips, if any."""
    reach = _reach(spec, now)
    if reach is None or spec.max_lookback is None:
        return None
    served = span(spec.max_lookback)
    edge, reason = reach, f"older than the {served} Mimecast serves for {spec.name}"
    if spec.paging is PagingKind.BATCH:
        first = datetime.combine(_first_day(max(_second(since), reach), reach), time.min, tzinfo=UTC)
        if first > reach and since < first:
            edge = first
            reason = (
                f"before the first whole day inside the {served} Mimecast serves for {spec.name}"
                " (the first listing asks by day)"
            )
    if since >= edge:
        return None
    fmt = TimeFormat.ISO_MS_Z
    return Gap(what=f"{spec.name} {format_time(fmt, since)} .. {format_time(fmt, edge)}", reason=reason)


def _first_day(start: datetime, reach: datetime | None) -> date:
    """The day a new SIEM batch stream lists first: a day that began before the reach could be refused."""
    first_day = start.date()
    if reach is not None and reach.time() != reach.min.time() and first_day <= reach.date():
        first_day = reach.date() + timedelta(days=1)
    return first_day


def initial_cursor(
    spec: StreamSpec,
    now: datetime,
    since: datetime | None = None,
    until: datetime | None = None,
    collect_from: datetime | None = None,
) -> Cursor:
    """Where a new stream starts: `since` (default: the spec's lookback), kept inside Mimecast's reach.

    A SIEM batch stream asks by day; `reach_gap` names what the day boundary leaves out.
    `collect_from` (the source's `collectFrom`, see `collect_start`) wins over the lookback and is
    kept as asked even before the reach: the first fetch then moves the stream into the reach and
    reports what Mimecast no longer serves as a gap (`into_reach`, `batch_into_reach`), as it does
    for a reset.
    """
    if collect_from is not None and since is None:
        asked = _second(min(collect_from, now))
        if spec.paging is PagingKind.BATCH:
            return BatchCursor(start_date=asked.date())
        return WindowCursor(start=asked, until=_second(until) if until is not None else None)
    start = _second(since if since is not None else now - spec.lookback)
    reach = _reach(spec, now)
    if reach is not None and start < reach:
        start = reach
    if spec.paging is PagingKind.BATCH:
        return BatchCursor(start_date=_first_day(start, reach))
    return WindowCursor(start=start, until=_second(until) if until is not None else None)


def batch_into_reach(spec: StreamSpec, cursor: BatchCursor, now: datetime) -> tuple[BatchCursor, Gap] | None:
    """A first SIEM batch listing asked by a day Mimecast no longer serves (a reset far back): the
    cursor from the oldest whole day served, and the gap that names what is skipped; else None."""
    if cursor.token is not None or cursor.files or cursor.start_date is None:
        return None
    since = datetime.combine(cursor.start_date, time.min, tzinfo=UTC)
    gap = reach_gap(spec, since, now)
    if gap is None:
        return None
    moved = initial_cursor(spec, now, since=since)
    assert isinstance(moved, BatchCursor)
    return moved, gap


def into_reach(spec: StreamSpec, cursor: WindowCursor, now: datetime) -> tuple[WindowCursor, Gap | None]:
    """A cursor whose start fell out of Mimecast's reach moves to its edge; the gap names the rest."""
    gap = reach_gap(spec, cursor.start, now)
    if gap is None:
        return cursor, None
    reach = _reach(spec, now)
    assert reach is not None
    return replace(cursor, start=reach, since=None if cursor.since is None else max(cursor.since, reach)), gap


def open_window(
    spec: StreamSpec, cursor: WindowCursor, now: datetime
) -> tuple[WindowCursor, Gap | None] | None:
    """Open the next window, or None while it would be shorter than the spec's minimum.

    A start that has fallen out of Mimecast's reach (a long outage) moves to the edge of the
    reach, and the skipped range is reported as a gap.
    """
    if cursor.end is not None:
        return cursor, None
    # What was read before (the overlap read again) is not lost: a gap counts from how far the
    # stream had read; the window starts inside the reach all the same.
    start, gap, reach = _second(cursor.start), reach_gap(spec, cursor.reached, now), _reach(spec, now)
    if reach is not None and spec.max_lookback is not None and start < reach:
        start = reach
    end = _second(min(now - spec.lag, start + spec.max_window))
    until = _second(cursor.until) if cursor.until is not None else None
    final = until is not None and end >= until
    if until is not None and final:
        end = until
    if end <= start or (end - max(start, cursor.reached) < spec.min_window and not final):
        return None
    return replace(cursor, start=start, end=end, page_token=None, tokens_seen=()), gap


def is_due(spec: StreamSpec, cursor: Cursor, now: datetime) -> bool:
    """Whether a fetch would find something to ask for now."""
    if isinstance(cursor, BatchCursor):
        return True
    return cursor.end is not None or open_window(spec, cursor, now) is not None


def close_window(spec: StreamSpec, cursor: WindowCursor) -> WindowCursor:
    """After the window's last page: move on an overlap before its end, clear the page token, and
    forget the remembered ids timed before the new start (no later window can return them)."""
    end = cursor.end if cursor.end is not None else cursor.start
    if cursor.until is not None and end >= cursor.until:
        start = cursor.until
    else:
        start = max(cursor.start, end - spec.overlap)
    known = cursor.known if spec.dedupe is Dedupe.NONE else cursor.known.since(int(start.timestamp()))
    # Once windows start at or after `since`, the ids remembered at each edge do its work.
    since = (
        cursor.since
        if cursor.since is not None and (cursor.until is not None or start < cursor.since)
        else None
    )
    return replace(
        cursor,
        start=start,
        end=None,
        page_token=None,
        tokens_seen=(),
        known=known,
        since=since,
        read_to=max(end, cursor.reached),
    )


# The streams whose windows a deployment's settings tune: Mimecast's `/api` logs and the feed.
TUNED = frozenset({PagingKind.ENVELOPE, PagingKind.FEED})


def tuned(spec: StreamSpec, overlap: timedelta, poll: timedelta) -> StreamSpec:
    """A windowed `/api` spec with the deployment's overlap (`WINDOW_OVERLAP_SECONDS`), opening a new
    window once the present has moved on a poll interval (or the spec's `min_window`, if shorter).
    SIEM streaming keeps its own overlap and takes the poll's window. Pure. Other specs come back as
    they are. ValueError when the overlap would stop windows moving.
    """
    if spec.paging is PagingKind.STREAMING:  # its own overlap (`STREAMING_OVERLAP`), the poll's window
        return replace(spec, min_window=_min_window(spec, poll))
    if spec.paging not in TUNED:
        return spec
    if overlap <= timedelta(0) or overlap * 2 > spec.max_window:
        raise ValueError(
            f"the window overlap must be more than 0 and at most half of {spec.name}'s longest "
            f"window ({span(spec.max_window)}), got {overlap.total_seconds():g} seconds"
        )
    return replace(spec, overlap=overlap, min_window=_min_window(spec, poll))


def _min_window(spec: StreamSpec, poll: timedelta) -> timedelta:
    return max(min(spec.min_window, poll), timedelta(seconds=1))

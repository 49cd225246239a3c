"""Per-collection progress of a source, for the Collection page: checkpoint time, lag, records forwarded.

Read straight from Redis: each stream's checkpoint (`Coordination.checkpoint`) and the shared
counters (`Counters.read`). The checkpoint time of a windowed stream (DLP, audit, hold list, SIEM
streaming) is the start of its window: every record before it has been forwarded. A SIEM batch
cursor holds no time, only Mimecast's listing token, so its lag counts from the last commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from api.context import Ctx
from core.engine import siem_mode
from core.errors import UnreadableCheckpoint
from core.lifecycle.failures import Failing, by_collection
from core.mimecast.streams import Collection
from core.models import BatchCursor, SiemMode, cursor_of_text
from core.store import keys
from core.store.coordination import Checkpoint, Coordination
from core.store.counters import PAGES_FETCHED, RECORDS_FORWARDED, Counters, Labels
from core.store.history import MINUTES, Series, lag_of
from core.store.streaks import Streaks

router = APIRouter(tags=["sources"])
Minutes = Annotated[int, Query(ge=1, le=MINUTES, description="How many minutes back, up to 1440 (24 h).")]
Bucket = Annotated[int, Query(ge=1, le=MINUTES, description="Minutes summed into each point.")]


@dataclass(frozen=True)
class ProgressStores:
    """What the progress route reads; built once by `api.routes.page.install`."""

    streams: Coordination
    counters: Counters
    streaks: Streaks


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def stream_progress(
    collection: str,
    checkpoint: Checkpoint,
    forwarded: int,
    pages: int,
    now: datetime,
    siem: SiemMode | None = None,
    failing: Failing | None = None,
) -> dict[str, Any]:
    """One collection's progress. Pure. `collected` is false before the first committed page.

    `lagBasis` says what `lagSeconds` counts from: `records` (the checkpoint time) or `commit`
    (the last commit, for a cursor without a time). SIEM (`siem`, its mode) also says its reading:
    `batch` or `streaming`, a handover under way, a fallback to batch files. `error` is the
    collection's own error while it is in error (`stopped`: it quit until an update or a restart),
    else null.
    """
    shown: dict[str, Any] = {
        "collection": collection,
        "collected": checkpoint.cursor is not None,
        "checkpointTime": None,
        "committedAt": None,
        "lagSeconds": None,
        "lagBasis": None,
        "caughtUp": None,
        "recordsForwarded": forwarded,
        "pagesFetched": pages,
        "error": {**failing.error.to_json(), "stopped": failing.stopped} if failing is not None else None,
    }
    if checkpoint.committed_at is not None:
        shown["committedAt"] = _iso(datetime.fromtimestamp(checkpoint.committed_at, UTC))
    cursor = None
    if checkpoint.cursor is not None:
        try:
            cursor = cursor_of_text(checkpoint.cursor)
        except UnreadableCheckpoint:  # a form this release cannot read: show what is known
            cursor = None
    if siem is not None:
        shown["siem"] = siem_mode.progress(siem, cursor, now)
    if checkpoint.cursor is None:
        return shown
    if isinstance(cursor, BatchCursor):
        shown["caughtUp"] = cursor.caught_up
    elif cursor is not None:
        start = cursor.reached if cursor.reached.tzinfo else cursor.reached.replace(tzinfo=UTC)
        shown["checkpointTime"] = _iso(start)
    shown["lagSeconds"], shown["lagBasis"] = lag_of(checkpoint, now)
    return shown


def _of_source(series: dict[Labels, int], source_id: str) -> dict[str, int]:
    """Counts of one source by collection."""
    counts: dict[str, int] = {}
    for labels, count in series.items():
        found = dict(labels)
        if found.get("source") == source_id and "collection" in found:
            counts[found["collection"]] = counts.get(found["collection"], 0) + count
    return counts


@router.get("/collectors/{collector_id}/sources/{source_id}/progress")
def source_progress(context: Ctx, request: Request, collector_id: str, source_id: str) -> dict[str, Any]:
    """Each collection of the source: checkpoint time, when it was committed, lag, records
    forwarded and pages fetched. `collected` is false until its first page is committed."""
    source = context.sources.in_collector(collector_id, source_id)
    stores: ProgressStores = request.app.state.progress
    forwarded = _of_source(stores.counters.read(RECORDS_FORWARDED), source_id)
    pages = _of_source(stores.counters.read(PAGES_FETCHED), source_id)
    now = context.clock.now()
    failing = by_collection(stores.streaks.failing(source_id))
    return {
        "now": _iso(now),
        "progress": [
            stream_progress(
                name,
                stores.streams.checkpoint(keys.stream_of(source_id, name)),
                forwarded.get(name, 0),
                pages.get(name, 0),
                now,
                source.config.siem_mode if name == Collection.SIEM else None,
                failing.get(name),
            )
            for name in source.config.data_collection
        ],
    }


@router.get("/collectors/{collector_id}/sources/{source_id}/progress/history")
def source_progress_history(
    context: Ctx, request: Request, collector_id: str, source_id: str, minutes: Minutes = MINUTES
) -> dict[str, Any]:
    """Each collection's last `minutes` minutes, oldest first: records forwarded in each minute and
    the lag after its last commit (null for a minute without a commit). Kept in Redis for 24 h."""
    source = context.sources.in_collector(collector_id, source_id)
    stores: ProgressStores = request.app.state.progress
    now = context.clock.now()
    return {
        "now": _iso(now),
        "collections": [
            {"collection": name, **stores.counters.history.series(source_id, name, now, minutes).to_json()}
            for name in source.config.data_collection
        ],
    }


def summed(series: list[Series], bucket: int) -> dict[str, Any]:
    """Records forwarded by all of a source's collections, `bucket` minutes to a point. Pure."""
    if not series:
        return {"start": None, "stepSeconds": bucket * 60, "forwarded": []}
    length = len(series[0].forwarded)
    skip = length % bucket  # the oldest minutes that do not fill a bucket are left out
    totals = [sum(one.forwarded[minute] for one in series) for minute in range(skip, length)]
    points = [sum(totals[at : at + bucket]) for at in range(0, len(totals), bucket)]
    start = series[0].to_json()["start"] if not skip else _iso(series[0].start + timedelta(minutes=skip))
    return {"start": start, "stepSeconds": bucket * 60, "forwarded": points}


@router.get("/collectors/{collector_id}/progress/sparklines")
def collector_sparklines(
    context: Ctx, request: Request, collector_id: str, minutes: Minutes = MINUTES, bucketMinutes: Bucket = 30
) -> dict[str, Any]:
    """Per source of the collector, records forwarded over the last `minutes` minutes, all
    collections together, `bucketMinutes` to a point: the collector list's sparklines."""
    context.collectors.get(collector_id)
    stores: ProgressStores = request.app.state.progress
    now = context.clock.now()
    answer: dict[str, Any] = {"now": _iso(now), "sources": []}
    for source in context.sources.page(collector_id, 0, 1000):
        series = [
            stores.counters.history.series(source.id, name, now, minutes)
            for name in source.config.data_collection
        ]
        answer["sources"].append({"id": source.id, **summed(series, min(bucketMinutes, minutes))})
    return answer

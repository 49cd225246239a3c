"""Sources of a collector: create, list, get (ETag), update (If-Match), delete, restart, history,
reset (a backfill from a start time) and the quarantine.

A create or update stores the source `Pending` in one script, then queues its start; the start
task (never this process) talks to Mimecast.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response

from api.context import Context, Ctx
from api.errors import ApiError
from api.schemas import ResetRequest, SourceRequest, SourceUpdateRequest
from api.views import etag, expected_version, source_json
from core.engine import siem_mode
from core.engine.siem_mode import Limits
from core.lifecycle.states import IllegalTransition, State
from core.mimecast.streams import Collection, spec_for
from core.mimecast.windows import initial_cursor
from core.models import BatchCursor, Cursor, WindowCursor, cursor_to_json
from core.store import keys
from core.store.codec import dumps
from core.store.sources import StoredSource

router = APIRouter(tags=["sources"])
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]
BASE = "/collectors/{collector_id}/sources"


def _queue_start(context: Context, stored: StoredSource) -> None:
    try:
        context.enqueue.start(stored.id, stored.status.generation)
    except Exception as exc:  # the broker is down: the source is stored, its start is not queued
        raise ApiError(
            503,
            "service.unavailable",
            f"source {stored.id} is stored but its start could not be queued; "
            "retry with POST .../action/restart",
        ) from exc


def _answer(context: Context, stored: StoredSource, response: Response) -> dict[str, Any]:
    response.headers["ETag"] = etag("source", stored.id, stored.version)
    return {"source": source_json(stored, context.fields.names())}


@router.post(BASE, status_code=201)
def create_source(context: Ctx, collector_id: str, body: SourceRequest, response: Response) -> dict[str, Any]:
    config = body.source.config
    stored = context.sources.create(
        collector_id, config.to_config(), config.clientSecret, context.clock.now()
    )
    _queue_start(context, stored)
    return _answer(context, stored, response)


@router.get(BASE)
def list_sources(context: Ctx, collector_id: str, limit: Limit = 1000, offset: Offset = 0) -> dict[str, Any]:
    context.collectors.get(collector_id)
    schema = context.fields.names()
    return {
        "sources": [source_json(found, schema) for found in context.sources.page(collector_id, offset, limit)]
    }


@router.get(BASE + "/{source_id}")
def get_source(context: Ctx, collector_id: str, source_id: str, response: Response) -> dict[str, Any]:
    return _answer(context, context.sources.in_collector(collector_id, source_id), response)


@router.put(BASE + "/{source_id}")
def update_source(
    context: Ctx,
    collector_id: str,
    source_id: str,
    body: SourceUpdateRequest,
    response: Response,
    if_match: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    """Replace the config and start again from the checkpoints: the way out of a config error."""
    if body.source.id is not None and body.source.id != source_id:
        raise ApiError(400, "sources.validation.failed", "source.id: does not match the path")
    current = context.sources.in_collector(collector_id, source_id)
    version = expected_version(if_match, "source", source_id, current.version)
    config = body.source.config
    stored = context.sources.update(
        source_id, config.to_config(), config.new_secret(), context.clock.now(), expected_version=version
    )
    _queue_start(context, stored)
    return _answer(context, stored, response)


@router.delete(BASE + "/{source_id}")
def delete_source(context: Ctx, collector_id: str, source_id: str) -> dict[str, Any]:
    """`Stopping` now; removed with its checkpoints and secret once in-flight work has ended."""
    current = context.sources.in_collector(collector_id, source_id)
    if current.status.state is not State.STOPPING:
        # A concurrent delete may get there first.
        with contextlib.suppress(IllegalTransition):
            context.sources.transition(source_id, State.STOPPING, context.clock.now(), "deleted")
    context.enqueue.delete_source(source_id)
    return {}


@router.post(BASE + "/{source_id}/action/restart", status_code=202)
def restart_source(context: Ctx, collector_id: str, source_id: str, response: Response) -> dict[str, Any]:
    """Start again from the stored checkpoints, whatever the state (but `Stopping`)."""
    context.sources.in_collector(collector_id, source_id)
    context.sources.restart(source_id, context.clock.now())
    stored = context.sources.get(source_id)
    _queue_start(context, stored)
    return _answer(context, stored, response)


@router.get(BASE + "/{source_id}/history")
def source_history(context: Ctx, collector_id: str, source_id: str) -> dict[str, Any]:
    """The recorded transitions, newest first (bounded)."""
    context.sources.in_collector(collector_id, source_id)
    return {"history": context.sources.history(source_id)}


@router.post(BASE + "/{source_id}/action/reset", status_code=202)
def reset_source(
    context: Ctx, collector_id: str, source_id: str, body: ResetRequest, response: Response
) -> dict[str, Any]:
    """Collect again from `startTime` (a backfill): every stream's checkpoint moves there (or to the
    oldest point Mimecast still serves), then the source restarts. Records after that point that
    were already forwarded are forwarded again."""
    current = context.sources.in_collector(collector_id, source_id)
    if current.status.state is State.STOPPING:
        raise IllegalTransition(current.status.state, State.PENDING)
    now = context.clock.now()
    since = body.start()
    if since > now:
        raise ApiError(400, "sources.validation.failed", "startTime: must not be in the future")
    starts = {}
    for collection in current.config.data_collection:
        spec = spec_for(collection)
        if collection == Collection.SIEM:  # batch files or streaming, as its mode reads from `since`
            spec = siem_mode.spec_of(siem_mode.initial(current.config.siem_mode, now, Limits(), since))
        cursor = initial_cursor(spec, now, since=since)
        starts[collection] = _start_of(cursor)
        # The operator asked for this start: keep it, so that the first window (or the first SIEM
        # listing) reports the part Mimecast no longer serves as a CollectionGap, then moves on to
        # the oldest point served.
        if isinstance(cursor, WindowCursor) and since < cursor.start:
            cursor = replace(cursor, start=since.replace(microsecond=0))
        elif (
            isinstance(cursor, BatchCursor)
            and cursor.start_date is not None
            and since.date() < cursor.start_date
        ):
            cursor = replace(cursor, start_date=since.date())
        # A run of its own: its batches are new ones, even where pages come out as before.
        cursor = replace(cursor, run=int(now.timestamp() * 1000))
        context.streams.reset(keys.stream_of(source_id, collection), dumps(cursor_to_json(cursor)))
    context.sources.restart(source_id, now, reason=f"reset to {body.startTime}")
    stored = context.sources.get(source_id)
    _queue_start(context, stored)
    return {**_answer(context, stored, response), "reset": starts}


def _start_of(cursor: Cursor) -> str:
    """Where a reset stream starts: a day for SIEM batch files, a moment otherwise."""
    if isinstance(cursor, BatchCursor):
        return cursor.start_date.isoformat() if cursor.start_date else ""
    return cursor.start.isoformat().replace("+00:00", "Z")


@router.get(BASE + "/{source_id}/quarantine")
def source_quarantine(
    context: Ctx, collector_id: str, source_id: str, limit: Limit = 100, offset: Offset = 0
) -> dict[str, Any]:
    """Lines that could not be read and messages withheld by a rule, newest first (bounded), and
    how many there were in all."""
    context.sources.in_collector(collector_id, source_id)
    kept, total = context.quarantine.page(source_id, offset, limit)
    return {"quarantine": kept, "total": total}

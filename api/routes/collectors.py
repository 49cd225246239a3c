"""Hosted collectors: create, list, get (ETag), update (If-Match), delete with all their sources."""

from __future__ import annotations

import contextlib
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response

from api.context import Ctx
from api.errors import ApiError
from api.schemas import CollectorRequest
from api.views import collector_json, etag, expected_version
from core.lifecycle.states import IllegalTransition, State
from core.store.outcomes import NotFound

router = APIRouter(tags=["collectors"])
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]


@router.post("/collectors", status_code=201)
def create_collector(context: Ctx, body: CollectorRequest, response: Response) -> dict[str, Any]:
    stored = context.collectors.create(body.collector.to_config(), context.clock.now())
    response.headers["ETag"] = etag("collector", stored.id, stored.version)
    return {"collector": collector_json(stored)}


@router.get("/collectors")
def list_collectors(context: Ctx, limit: Limit = 1000, offset: Offset = 0) -> dict[str, Any]:
    return {"collectors": [collector_json(found) for found in context.collectors.page(offset, limit)]}


@router.get("/collectors/{collector_id}")
def get_collector(context: Ctx, collector_id: str, response: Response) -> dict[str, Any]:
    stored = context.collectors.get(collector_id)
    response.headers["ETag"] = etag("collector", stored.id, stored.version)
    return {"collector": collector_json(stored)}


@router.put("/collectors/{collector_id}")
def update_collector(
    context: Ctx,
    collector_id: str,
    body: CollectorRequest,
    response: Response,
    if_match: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    if body.collector.id is not None and body.collector.id != collector_id:
        raise ApiError(400, "collectors.validation.failed", "collector.id: does not match the path")
    current = context.collectors.get(collector_id)
    version = expected_version(if_match, "collector", collector_id, current.version)
    stored = context.collectors.update(collector_id, body.collector.to_config(), expected_version=version)
    response.headers["ETag"] = etag("collector", stored.id, stored.version)
    return {"collector": collector_json(stored)}


@router.delete("/collectors/{collector_id}")
def delete_collector(context: Ctx, collector_id: str) -> dict[str, Any]:
    """Hide the collector at once, stop each source; the workers remove them when idle."""
    source_ids = context.collectors.mark_deleting(collector_id)
    now = context.clock.now()
    for source_id in source_ids:
        with contextlib.suppress(IllegalTransition, NotFound):  # already Stopping, or already gone
            context.sources.transition(source_id, State.STOPPING, now, "collector deleted")
        context.enqueue.delete_source(source_id)
    context.enqueue.delete_collector(collector_id)
    return {}

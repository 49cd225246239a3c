"""Health events: the unresolved ones (paged by token), and the recent ones of given resources."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.context import Ctx
from api.errors import ApiError
from api.schemas import ResourcesRequest

router = APIRouter(tags=["health events"])
MAX_EVENTS = 1000


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def _offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        decoded = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        decoded = ""
    kind, _, number = decoded.partition(":")
    if kind != "o" or not number.isdigit() or int(number) > 10_000_000:
        raise ApiError(400, "healthevents.validation.failed", "token: not a page token this API gave")
    return int(number)


@router.get("/healthEvents")
def unresolved(
    context: Ctx,
    limit: Annotated[int, Query(ge=1, le=MAX_EVENTS)] = 100,
    token: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    offset = _offset(token)
    events, more = context.health.unresolved(offset, limit)
    return {"data": events, "next": _token(offset + limit) if more else None}


@router.post("/healthEvents/resources")
def of_resources(
    context: Ctx, body: ResourcesRequest, limit: Annotated[int, Query(ge=1, le=MAX_EVENTS)] = 100
) -> dict[str, Any]:
    """Recent events of the given sources (or of every source of the given collectors), newest
    first; an open event is shown as it stands now."""
    source_ids: list[str] = []
    for ref in body.data:
        if ref.type == "Source":
            source_ids.append(ref.id)
        else:
            source_ids.extend(context.sources.ids(ref.id))
    unique = list(dict.fromkeys(source_ids))
    current = {
        event.event_id: event.to_json()
        for source_id in unique
        for event in context.health.open_events_of(source_id).values()
    }
    events = context.health.log_of(unique, limit)
    return {"data": [current.get(event["eventId"], event) for event in events]}

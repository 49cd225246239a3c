"""Destinations: create, list, get (ETag), update (If-Match), delete (409 while a collector routes
to it). Secrets in a config are encrypted at rest and shown as the mask; a PUT that sends the mask
back keeps the stored secret.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response

from api.context import Ctx
from api.errors import ApiError
from api.schemas import DestinationRequest
from api.views import etag, expected_version
from core.sinks import specs
from core.store.destinations import StoredDestination

router = APIRouter(tags=["destinations"])
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]
INVALID = "destinations.validation.failed"


def destination_json(context: Ctx, stored: StoredDestination) -> dict[str, Any]:
    return {
        "id": stored.id,
        "name": stored.name,
        "type": stored.type,
        "config": stored.config,  # secrets masked by the store
        "health": context.destinations.health(stored.id).to_json(),
    }


def _checked(kind: str, config: Any) -> specs.JsonConfig:
    try:
        return specs.check(kind, config)
    except specs.InvalidDestination as exc:
        raise ApiError(400, INVALID, f"destination.{exc}") from None


@router.post("/destinations", status_code=201)
def create_destination(context: Ctx, body: DestinationRequest, response: Response) -> dict[str, Any]:
    given = body.destination
    config = _checked(given.type, given.config)
    stored = context.destinations.create(given.name, given.type, config, context.clock.now())
    response.headers["ETag"] = etag("destination", stored.id, stored.version)
    return {"destination": destination_json(context, stored)}


@router.get("/destinations")
def list_destinations(context: Ctx, limit: Limit = 1000, offset: Offset = 0) -> dict[str, Any]:
    found = context.destinations.page(offset, limit)
    return {"destinations": [destination_json(context, stored) for stored in found]}


@router.get("/destinations/{destination_id}")
def get_destination(context: Ctx, destination_id: str, response: Response) -> dict[str, Any]:
    stored = context.destinations.get(destination_id)
    response.headers["ETag"] = etag("destination", stored.id, stored.version)
    return {"destination": destination_json(context, stored)}


@router.put("/destinations/{destination_id}")
def update_destination(
    context: Ctx,
    destination_id: str,
    body: DestinationRequest,
    response: Response,
    if_match: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    given = body.destination
    if given.id is not None and given.id != destination_id:
        raise ApiError(400, INVALID, "destination.id: does not match the path")
    current = context.destinations.get(destination_id)
    version = expected_version(if_match, "destination", destination_id, current.version)
    stored_secrets = context.destinations.secrets(destination_id) if given.type == current.type else {}
    config = _checked(given.type, specs.keep_masked(given.type, given.config, stored_secrets))
    if given.name.casefold() != current.name.casefold() and context.collectors.routing_to(current.name):
        raise ApiError(
            409,
            "destinations.in.use",
            f"destination {current.name!r} is routed to by a collector: a rename would break its routing",
        )
    stored = context.destinations.update(
        destination_id, given.name, given.type, config, expected_version=version
    )
    response.headers["ETag"] = etag("destination", stored.id, stored.version)
    return {"destination": destination_json(context, stored)}


@router.delete("/destinations/{destination_id}")
def delete_destination(context: Ctx, destination_id: str) -> dict[str, Any]:
    """Refused with 409 while a collector routes to it; batches in flight need it."""
    context.destinations.delete(destination_id)
    return {}

"""How stored collectors and sources look in responses, and their ETags. The secret is always masked."""

from __future__ import annotations

import hashlib
from typing import Any

from api.errors import ApiError
from core.lifecycle.states import public_state
from core.store.collectors import StoredCollector
from core.store.fields import dropped
from core.store.secrets import MASK
from core.store.sources import StoredSource


def etag(kind: str, resource_id: str, version: int) -> str:
    """A strong ETag that changes with every stored change of the config."""
    return '"' + hashlib.sha256(f"{kind}:{resource_id}:{version}".encode()).hexdigest()[:20] + '"'


def expected_version(if_match: str | None, kind: str, resource_id: str, version: int) -> int | None:
    """The version an `If-Match` pins (checked again by the store's compare-and-set), None for none.

    412 when it names no current ETag. Weak (`W/`) ETags are compared as strong ones.
    """
    if if_match is None or if_match.strip() == "*":
        return None
    offered = {tag.strip().removeprefix("W/") for tag in if_match.split(",")}
    if etag(kind, resource_id, version) not in offered:
        raise ApiError(412, "request.precondition.failed", f"If-Match does not match the current {kind}")
    return version


def source_json(stored: StoredSource, schema: set[str]) -> dict[str, Any]:
    config = stored.config.to_json()
    config["clientSecret"] = MASK
    shown: dict[str, Any] = {
        "id": stored.id,
        "schemaRef": {"type": "Mimecast"},
        "sourceType": "Universal",
        "config": config,
        "state": public_state(stored.status),
    }
    lost = dropped(config["fields"], schema)
    if lost:
        shown["droppedFields"] = lost
    return shown


def collector_json(stored: StoredCollector) -> dict[str, Any]:
    return {"id": stored.id, "collectorType": "Hosted", "alive": True, **stored.config.to_json()}

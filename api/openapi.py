"""The served OpenAPI document: what the API really answers, with links from creates to their ids.

FastAPI documents a 422 the API never sends (validation errors are 400 here), so those entries go;
the links let a client (or a fuzzer) follow a created collector, source or field to its routes.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

_COLLECTOR_ID = {"collector_id": "$response.body#/collector/id"}
_SOURCE_IDS = {"collector_id": "$request.path.collector_id", "source_id": "$response.body#/source/id"}
_FIELD_ID = {"field_id": "$response.body#/fieldId"}
# operation id -> (status, {link name: (target operation id, parameters)})
_LINKS: dict[str, tuple[str, dict[str, tuple[str, dict[str, str]]]]] = {
    "create_collector": (
        "201",
        {
            name: (name, _COLLECTOR_ID)
            for name in (
                "get_collector",
                "update_collector",
                "delete_collector",
                "list_sources",
                "create_source",
            )
        },
    ),
    "create_source": (
        "201",
        {
            name: (name, _SOURCE_IDS)
            for name in ("get_source", "update_source", "delete_source", "restart_source", "source_history")
        },
    ),
    "create_field": ("200", {name: (name, _FIELD_ID) for name in ("get_field", "delete_field")}),
}


def document(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            operation.get("responses", {}).pop("422", None)
            links = _LINKS.get(operation.get("operationId", ""))
            if links is not None:
                status, targets = links
                operation["responses"].setdefault(status, {"description": "Created"})["links"] = {
                    name: {"operationId": target, "parameters": parameters}
                    for name, (target, parameters) in targets.items()
                }
    for unused in ("HTTPValidationError", "ValidationError"):
        schema.get("components", {}).get("schemas", {}).pop(unused, None)
    app.openapi_schema = schema
    return schema

"""The management API app: `create_app(settings)` wires the stores, the queue and the routes.

Every route under `/api/v1` needs HTTP Basic credentials; `/health` (liveness) is the only open
one. The OpenAPI document is served at `/api/v1/openapi.json` (also behind credentials).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from api import errors, metrics, openapi
from api.context import Context, Enqueuer
from api.limits import BodyLimits
from api.routes import collectors, destinations, fields, health, page, sources
from api.security import authenticated
from core.clock import Clock, SystemClock
from core.store.access import AccessStore
from core.store.collectors import CollectorStore
from core.store.coordination import Coordination
from core.store.destinations import DestinationStore
from core.store.fields import FieldStore
from core.store.health import HealthStore
from core.store.quarantine import Quarantine
from core.store.secrets import SecretBox
from core.store.sources import SourceStore
from worker.settings import Settings

PREFIX = "/api/v1"
_ERROR = {
    "description": "The contract's error body",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["status", "id", "code", "message"],
                "properties": {
                    "status": {"type": "integer"},
                    "id": {"type": "string"},
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                },
            }
        }
    },
}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: _ERROR for status in (400, 401, 404, 409, 412, 413, 415, 503)
}


class CeleryEnqueuer:
    """Sends lifecycle tasks by name; their arguments are ids (and a generation number) only."""

    def __init__(self, settings: Settings) -> None:
        from worker.config import create_celery

        self._celery = create_celery(settings)

    def start(self, source_id: str, generation: int) -> None:
        self._celery.send_task("tasks.lifecycle.start_source", args=[source_id, generation])

    def delete_source(self, source_id: str) -> None:
        self._celery.send_task("tasks.lifecycle.delete_source", args=[source_id])

    def delete_collector(self, collector_id: str) -> None:
        self._celery.send_task("tasks.lifecycle.delete_collector", args=[collector_id])


def create_app(
    settings: Settings, *, enqueuer: Enqueuer | None = None, clock: Clock | None = None
) -> FastAPI:
    """The app for one deployment; refuses to build without SECRETS_KEY (outside the demo)."""
    box = SecretBox(settings.secrets_keys())
    client = settings.redis_store()
    context = Context(
        clock=clock or SystemClock(),
        collectors=CollectorStore(client),
        sources=SourceStore(client, box, settings.history_limit),
        health=HealthStore(client, settings.health_log_limit),
        fields=FieldStore(client),
        access=AccessStore(client),
        enqueue=enqueuer or CeleryEnqueuer(settings),
        admin=settings.admin_credentials(),
        streams=Coordination(client),
        quarantine=Quarantine(client, settings.quarantine_limit),
        destinations=DestinationStore(client, box),
    )
    app = FastAPI(
        title="mimecast-source management API",
        version="1",
        description="Collectors, Mimecast sources, health events and the fields schema, "
        "in the dialect of the hosted Collector Management API.",
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        generate_unique_id_function=lambda route: route.name,
    )
    app.state.ctx = context
    errors.install(app)

    protected = APIRouter(prefix=PREFIX, dependencies=[Depends(authenticated)], responses=_RESPONSES)
    for module in (collectors, sources, health, fields, destinations):
        protected.include_router(module.router)
    page.install(app, protected, client)  # the Collection page at `/`, its progress route under /api/v1

    @protected.get("/openapi.json", include_in_schema=False)
    def openapi_document(request: Request) -> JSONResponse:
        return JSONResponse(openapi.document(request.app))

    app.include_router(protected)
    metrics.install(app, client)  # GET /metrics (Prometheus), behind the same credentials

    @app.get("/health", tags=["liveness"])
    def liveness() -> dict[str, str]:
        """Liveness probe: the process answers. No credentials needed."""
        return {"status": "ok"}

    app.add_middleware(BodyLimits, max_bytes=settings.api_max_body_bytes)
    return app

"""What a request handler works with: the stores, the clock, the task queue and the admin credential.

Built once per process by `api.app.create_app`; handlers get it through the `ctx` dependency.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Protocol

from fastapi import Depends, Request

from core.clock import Clock
from core.store.access import AccessStore
from core.store.collectors import CollectorStore
from core.store.coordination import Coordination
from core.store.fields import FieldStore
from core.store.health import HealthStore
from core.store.quarantine import Quarantine
from core.store.sources import SourceStore


class Enqueuer(Protocol):
    """Hands work to the workers; messages carry ids only, never a secret."""

    def start(self, source_id: str, generation: int) -> None: ...

    def delete_source(self, source_id: str) -> None: ...

    def delete_collector(self, collector_id: str) -> None: ...


@dataclass(frozen=True)
class Context:
    clock: Clock
    collectors: CollectorStore
    sources: SourceStore
    health: HealthStore
    fields: FieldStore
    access: AccessStore
    enqueue: Enqueuer
    admin: tuple[str, str] | None
    streams: Coordination
    quarantine: Quarantine


def ctx(request: Request) -> Context:
    context: Context = request.app.state.ctx
    return context


Ctx = Annotated[Context, Depends(ctx)]

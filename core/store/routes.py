"""The router sink over Redis: a batch's source -> its collector -> the destinations it names."""

from __future__ import annotations

import redis

from core.clock import Clock
from core.sinks.build import open_destination
from core.sinks.contract import Sink
from core.sinks.factory import open_sink
from core.sinks.routing import Resolved, RouterSink
from core.store.collectors import CollectorStore
from core.store.counters import Counters
from core.store.destinations import DestinationReport, DestinationStore
from core.store.outcomes import NotFound
from core.store.secrets import SecretBox
from core.store.sources import SourceStore


def routed_sink(client: redis.Redis, box: SecretBox, sink_url: str, clock: Clock) -> Sink:
    """The sink a worker writes every batch to; collectors without destinations use `sink_url`."""
    sources = SourceStore(client, box)
    collectors = CollectorStore(client)
    destinations = DestinationStore(client, box)

    def routes(source_id: str) -> tuple[str, ...]:
        try:
            return collectors.destinations_of(sources.get(source_id).collector_id)
        except NotFound:  # a source or collector deleted under a batch: as before routing, the default
            return ()

    def resolve(name: str) -> Resolved:
        try:
            stored, config = destinations.resolve(name)
        except NotFound as exc:
            raise LookupError(str(exc)) from None
        return Resolved(stored.id, stored.name, stored.type, stored.version, config)

    return RouterSink(
        open_sink(sink_url, clock=clock),
        routes=routes,
        resolve=resolve,
        open_sink=lambda target: open_destination(target.name, target.type, target.config, clock=clock),
        report=DestinationReport(client, Counters(client)),
        clock=clock,
        default_type="file" if sink_url.strip().lower().startswith("file:") else "sumo",
    )

"""The one place a worker process builds its stores and clients from Settings (once per process)."""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass

import httpx
import redis

from core.clock import Clock, SystemClock
from core.lifecycle.retry import RetryPolicy
from core.mimecast.batchfiles import BatchFileReader
from core.mimecast.client import MimecastClient, base_url
from core.mimecast.fetcher import ListingCache, MemoryListingCache, TieredListingCache
from core.sinks.contract import Sink
from core.store.collectors import CollectorStore
from core.store.coordination import Coordination
from core.store.counters import Counters
from core.store.fields import FieldStore
from core.store.health import HealthStore
from core.store.listings import RedisListingCache
from core.store.quarantine import Quarantine
from core.store.routes import routed_sink
from core.store.secrets import SecretBox
from core.store.sources import SourceStore
from core.store.streaks import Streaks
from core.store.throttle import Throttle
from core.store.tokens import RedisTokenCache
from worker.settings import Settings


@dataclass(frozen=True)
class Services:
    settings: Settings
    clock: Clock
    redis: redis.Redis
    sources: SourceStore
    collectors: CollectorStore
    health: HealthStore
    tokens: RedisTokenCache
    mimecast: MimecastClient
    coordination: Coordination
    streaks: Streaks
    throttle: Throttle
    quarantine: Quarantine
    counters: Counters
    fields: FieldStore
    files: BatchFileReader
    listings: ListingCache
    sink: Sink
    policy: RetryPolicy


def build(settings: Settings) -> Services:
    client = settings.redis_store()
    clock = SystemClock()
    mimecast = MimecastClient(
        base_url(settings.mimecast_gateway, settings.mimecast_base_url),
        clock,
        timeout=httpx.Timeout(settings.http_timeout_seconds),
    )
    return Services(
        settings=settings,
        clock=clock,
        redis=client,
        sources=SourceStore(client, SecretBox(settings.secrets_keys()), settings.history_limit),
        collectors=CollectorStore(client),
        health=HealthStore(client, settings.health_log_limit),
        tokens=RedisTokenCache(client),
        mimecast=mimecast,
        coordination=Coordination(client),
        streaks=Streaks(client),
        throttle=Throttle(client),
        quarantine=Quarantine(client, settings.quarantine_limit),
        counters=Counters(client),
        fields=FieldStore(client),
        files=BatchFileReader(mimecast, max_records=settings.max_records_per_chunk),
        listings=TieredListingCache(MemoryListingCache(), RedisListingCache(client, clock)),
        sink=routed_sink(client, SecretBox(settings.secrets_keys()), settings.sink_url, clock),
        policy=RetryPolicy(
            window_seconds=settings.retry_window_seconds,
            base_seconds=settings.retry_base_seconds,
            cap_seconds=settings.retry_cap_seconds,
        ),
    )


_building = threading.Lock()


def services() -> Services:
    """This process's services, built on first use (after a prefork child was forked); once, even
    when the first tasks of a threads pool's process start together."""
    with _building:
        return _built()


@functools.cache
def _built() -> Services:
    return build(Settings())

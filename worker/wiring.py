"""The one place a worker process builds its stores and clients from Settings (once per process)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import httpx
import redis

from core.clock import Clock, SystemClock
from core.mimecast.client import MimecastClient, base_url
from core.store.collectors import CollectorStore
from core.store.health import HealthStore
from core.store.secrets import SecretBox
from core.store.sources import SourceStore
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


def build(settings: Settings) -> Services:
    client = redis.Redis.from_url(settings.redis_url)
    clock = SystemClock()
    return Services(
        settings=settings,
        clock=clock,
        redis=client,
        sources=SourceStore(client, SecretBox(settings.secrets_keys()), settings.history_limit),
        collectors=CollectorStore(client),
        health=HealthStore(client, settings.health_log_limit),
        tokens=RedisTokenCache(client),
        mimecast=MimecastClient(
            base_url(settings.mimecast_gateway, settings.mimecast_base_url),
            clock,
            timeout=httpx.Timeout(settings.http_timeout_seconds),
        ),
    )


@functools.cache
def services() -> Services:
    """This process's services, built on first use (after a prefork child was forked)."""
    return build(Settings())

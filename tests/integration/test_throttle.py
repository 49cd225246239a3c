"""One rate-limit pause per Mimecast client id and endpoint, in a real Redis."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from core.store.throttle import Throttle
from tests.support.redis_server import RedisServer


@pytest.fixture
def throttle(redis_server: RedisServer) -> Iterator[Throttle]:
    client = redis.Redis.from_url(redis_server.url)
    yield Throttle(client)
    client.close()


def test_a_pause_holds_for_every_caller_of_one_client_id_and_endpoint_until_the_reset(
    throttle: Throttle,
) -> None:
    throttle.pause("app-1", "/api/dlp/get-logs", until=1_000.0, now=990.0)

    assert throttle.paused_until("app-1", "/api/dlp/get-logs", now=995.0) == 1_000.0
    assert throttle.paused_until("app-1", "/api/dlp/get-logs", now=1_000.0) is None  # the reset came
    assert throttle.paused_until("app-1", "/api/audit/get-audit-events", now=995.0) is None  # its own budget
    assert throttle.paused_until("app-2", "/api/dlp/get-logs", now=995.0) is None  # another application


def test_an_earlier_reset_never_shortens_a_later_one(throttle: Throttle) -> None:
    throttle.pause("app-1", "/api/dlp/get-logs", until=1_060.0, now=1_000.0)
    throttle.pause("app-1", "/api/dlp/get-logs", until=1_010.0, now=1_000.0)

    assert throttle.paused_until("app-1", "/api/dlp/get-logs", now=1_020.0) == 1_060.0

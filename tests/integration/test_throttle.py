"""One rate-limit pause per Mimecast client id and endpoint, in a real Redis."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis

from core.mimecast.pacing import Budget, Reading
from core.store.throttle import KEEP_AFTER_RESET_SECONDS, Throttle
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


def test_a_budget_is_written_only_over_the_version_it_was_read_at(throttle: Throttle) -> None:
    # Given a budget read at version 0 by two units
    assert throttle.reading("app-1", "/api/dlp/get-logs") == Reading(None, 0, None)
    now = time.time()
    first = Budget(4, now + 60, now, 50)
    # When both write over version 0, the second loses and writes nothing
    assert throttle.swap("app-1", "/api/dlp/get-logs", 0, first)
    assert not throttle.swap("app-1", "/api/dlp/get-logs", 0, Budget(9, now + 60, now, 50))
    # Then readers see the first, at version 1, next to the 429 pause of the same client id and endpoint
    throttle.pause("app-1", "/api/dlp/get-logs", until=now + 20, now=now)
    reading = throttle.reading("app-1", "/api/dlp/get-logs")
    assert reading.budget == first
    assert reading.version == 1
    assert reading.paused_until == now + 20
    assert throttle.reading("app-2", "/api/dlp/get-logs").budget is None  # another application


def test_a_budget_expires_a_while_after_its_reset(throttle: Throttle, redis_server: RedisServer) -> None:
    now = time.time()
    throttle.swap("app-1", "/api/dlp/get-logs", 0, Budget(4, now + 1, now, None))
    client = redis.Redis.from_url(redis_server.url)
    ttls = [client.pttl(key) for key in client.scan_iter(match="*budget*")]
    client.close()
    assert len(ttls) == 1
    assert 0 < ttls[0] <= (1 + KEEP_AFTER_RESET_SECONDS) * 1000

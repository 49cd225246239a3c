"""Records forwarded per minute and the lag, kept in a real Redis with a fixed size per collection.

Given the counters every forward already calls, when records are counted over more than a day of
(manual) time, then the history holds the last 24 hours minute by minute, its Redis value never
grows past 1440 slots, it expires when the stream goes quiet, and it goes with its source.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import redis

from core.clock import ManualClock
from core.models import WindowCursor, cursor_to_json
from core.store import keys
from core.store.coordination import Coordination
from core.store.counters import RECORDS_FORWARDED, Counters
from core.store.history import MINUTES, SLOT, History
from tests.support.redis_server import RedisServer

START = datetime(2026, 11, 29, 0, 0, 10, tzinfo=UTC)
LABELS = {"source": "s1", "collection": "dlp"}


def test_records_and_lag_per_minute_from_the_counters_hook(redis_server: RedisServer) -> None:
    client = redis.Redis.from_url(redis_server.url)
    clock = ManualClock(START)
    counters = Counters(client, clock)
    history = History(client, clock)

    counters.add(RECORDS_FORWARDED, LABELS, 0)  # a commit with nothing: no lag known yet
    coordination = Coordination(client)
    lease = coordination.acquire(keys.stream_of("s1", "dlp"), 60)
    assert lease is not None
    cursor = json.dumps(cursor_to_json(WindowCursor(start=START - timedelta(minutes=10))))
    coordination.commit(lease, 0, cursor, clock.now().timestamp())
    counters.add(RECORDS_FORWARDED, LABELS, 30)
    counters.add(RECORDS_FORWARDED, LABELS, 12)
    clock.advance(120)
    counters.add(RECORDS_FORWARDED, LABELS, 5)

    series = history.series("s1", "dlp")
    assert series.forwarded[-3:] == (42, 0, 5)
    assert series.lag[-3:] == (600, 660, 720)  # no commit in the middle minute: the lag grew by it
    assert sum(series.forwarded) == 47
    assert counters.read(RECORDS_FORWARDED) == {(("collection", "dlp"), ("source", "s1")): 47}
    assert history.series("s1", "audit").forwarded == (0,) * MINUTES


def test_more_than_a_day_of_minutes_keeps_the_last_24_hours_in_a_fixed_size(
    redis_server: RedisServer,
) -> None:
    client = redis.Redis.from_url(redis_server.url)
    clock = ManualClock(START)
    history = History(client, clock)
    ring = keys.source_progress("s1", "siem")
    for minute in range(MINUTES + 500):
        history.record("s1", "siem", minute + 1)
        clock.advance(60)
        assert client.strlen(ring) <= MINUTES * SLOT.size
    clock.advance(-60)
    series = history.series("s1", "siem")
    assert series.forwarded == tuple(range(501, MINUTES + 501))
    assert client.strlen(ring) == MINUTES * SLOT.size
    assert 0 < client.ttl(ring) <= 25 * 3600
    assert client.keys(keys.source_pattern("s1")) == [ring.encode()]  # removed with the source

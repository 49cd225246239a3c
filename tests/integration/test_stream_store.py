"""The due set, leases with fencing epochs and compare-and-set checkpoints, against a real Redis."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from core.store.streams import StaleCommit, StreamStore
from tests.support.redis_server import RedisServer


@pytest.fixture
def store(redis_server: RedisServer) -> Iterator[StreamStore]:
    client = redis.Redis.from_url(redis_server.url)
    yield StreamStore(client)
    client.close()


def test_claiming_takes_only_due_streams_and_pushes_them_ahead(store: StreamStore) -> None:
    store.schedule("s1:dlp", at=100)
    store.schedule("s1:siem", at=200)

    assert store.claim_due(now=150, hold_seconds=60) == ["s1:dlp"]
    assert store.due_at("s1:dlp") == 210
    assert store.claim_due(now=150, hold_seconds=60) == []
    assert store.overdue(now=250) == 2


def test_concurrent_claims_hand_each_due_stream_to_one_claimer(store: StreamStore) -> None:
    for number in range(200):
        store.schedule(f"s:{number}", at=0)

    with ThreadPoolExecutor(max_workers=8) as pool:
        batches = list(pool.map(lambda _: store.claim_due(now=1, hold_seconds=60, limit=30), range(16)))

    claimed = [stream for batch in batches for stream in batch]
    assert sorted(claimed) == sorted(f"s:{number}" for number in range(200))


def test_a_held_lease_is_refused_and_each_grant_has_a_new_epoch(store: StreamStore) -> None:
    first = store.acquire("s1:dlp", ttl_seconds=30)
    assert first is not None
    assert store.acquire("s1:dlp", ttl_seconds=30) is None

    store.release(first)
    second = store.acquire("s1:dlp", ttl_seconds=30)
    assert second is not None
    assert second.epoch == first.epoch + 1


def test_releasing_a_lease_one_no_longer_holds_leaves_the_new_holder_alone(store: StreamStore) -> None:
    old = store.acquire("s1:dlp", ttl_seconds=0.05)
    assert old is not None
    time.sleep(0.1)  # the old holder's lease runs out
    new = store.acquire("s1:dlp", ttl_seconds=30)
    assert new is not None

    store.release(old)
    assert store.held("s1:dlp")
    assert not store.renew(old, ttl_seconds=30)
    assert store.renew(new, ttl_seconds=30)


def test_a_commit_moves_the_checkpoint_once_from_the_version_it_read(store: StreamStore) -> None:
    lease = store.acquire("s1:dlp", ttl_seconds=30)
    assert lease is not None
    assert store.checkpoint("s1:dlp").version == 0

    assert store.commit(lease, expected_version=0, cursor='{"page": 1}', now=10.0) == 1
    with pytest.raises(StaleCommit, match="changed"):
        store.commit(lease, expected_version=0, cursor='{"page": 1}', now=11.0)

    checkpoint = store.checkpoint("s1:dlp")
    assert (checkpoint.cursor, checkpoint.version, checkpoint.committed_at) == ('{"page": 1}', 1, 10.0)


def test_a_worker_whose_lease_passed_on_cannot_commit(store: StreamStore) -> None:
    stale = store.acquire("s1:dlp", ttl_seconds=30)
    assert stale is not None
    store.release(stale)
    current = store.acquire("s1:dlp", ttl_seconds=30)
    assert current is not None

    with pytest.raises(StaleCommit, match="another worker"):
        store.commit(stale, expected_version=0, cursor='{"page": 9}', now=1.0)
    assert store.commit(current, expected_version=0, cursor='{"page": 1}', now=1.0) == 1


def test_a_reset_fences_the_work_in_flight_and_sets_the_cursor(store: StreamStore) -> None:
    lease = store.acquire("s1:dlp", ttl_seconds=30)
    assert lease is not None

    store.reset("s1:dlp", '{"since": "2026-11-01"}')

    with pytest.raises(StaleCommit):
        store.commit(lease, expected_version=0, cursor='{"page": 1}', now=1.0)
    assert store.checkpoint("s1:dlp").cursor == '{"since": "2026-11-01"}'


def test_checkpoints_survive_a_redis_crash(redis_server: RedisServer, store: StreamStore) -> None:
    lease = store.acquire("s1:dlp", ttl_seconds=30)
    assert lease is not None
    store.commit(lease, expected_version=0, cursor='{"page": 3}', now=1.0)

    redis_server.restart()

    client = redis.Redis.from_url(redis_server.url)
    assert StreamStore(client).checkpoint("s1:dlp").cursor == '{"page": 3}'
    client.close()

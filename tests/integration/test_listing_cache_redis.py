"""The Redis listing cache: workers reading one SIEM batch file's chunks in different tasks list once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta

import pytest
import redis

from core.clock import ManualClock
from core.errors import FirstPartyGenericError
from core.mimecast.fetcher import MemoryListingCache
from core.mimecast.streams import SIEM_BATCH
from core.models import BatchCursor, BatchFile, Page, digest
from core.store import keys
from core.store.listings import DEFAULT_TTL_SECONDS, EXPIRY_MARGIN_SECONDS, RedisListingCache
from tests.support.fetching import Clocks, Workers, drain, start_cursor, stored, truth_ids
from tests.support.redis_server import RedisServer
from tests.support.simulator import SimulatorProcess

NOW = datetime(2024, 6, 5, 11, 0, tzinfo=UTC)
CACHE_KEY = "credential:siem:eNqsecretlookingtoken"


def listing(expiry: datetime | None, count: int = 3) -> dict[str, BatchFile]:
    stamp = expiry.strftime("%Y-%m-%dT%H:%M:%S.000Z") if expiry else None
    return {
        f"https://s3.example/siem/{n}.gz": BatchFile(
            key=f"https://s3.example/siem/{n}.gz",
            url=f"https://s3.example/siem/{n}.gz?X-Amz-Signature=sig{n}",
            size=1000 + n,
            expiry=stamp,
        )
        for n in range(count)
    }


@pytest.fixture
def client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(redis_server.url)
    yield connection
    connection.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


def test_a_listing_is_read_back_whole_under_a_digest_of_its_key(
    client: redis.Redis, clock: ManualClock
) -> None:
    files = listing(NOW + timedelta(hours=1))
    cache = RedisListingCache(client, clock)
    cache.put(CACHE_KEY, files)
    assert cache.get(CACHE_KEY) == files
    assert client.keys("*") == [keys.batch_listing(digest(CACHE_KEY)).encode()]
    assert cache.get("credential:siem:another-token") is None


def test_it_lives_until_its_earliest_url_expires_less_a_margin(
    client: redis.Redis, clock: ManualClock
) -> None:
    files = listing(NOW + timedelta(hours=1))
    files["early"] = BatchFile("early", "https://s3.example/early?sig=1", 5, "2024-06-05T11:10:00.000Z")
    RedisListingCache(client, clock).put(CACHE_KEY, files)
    ttl_ms = client.pttl(keys.batch_listing(digest(CACHE_KEY)))
    assert ttl_ms == pytest.approx((600 - EXPIRY_MARGIN_SECONDS) * 1000, abs=50)


def test_a_listing_without_expiry_lives_a_default_time(client: redis.Redis, clock: ManualClock) -> None:
    RedisListingCache(client, clock).put(CACHE_KEY, listing(None))
    assert client.pttl(keys.batch_listing(digest(CACHE_KEY))) == pytest.approx(
        DEFAULT_TTL_SECONDS * 1000, abs=50
    )


def test_a_listing_whose_urls_are_already_stale_is_not_kept(client: redis.Redis, clock: ManualClock) -> None:
    cache = RedisListingCache(client, clock)
    cache.put(CACHE_KEY, listing(NOW + timedelta(seconds=10)))
    assert cache.get(CACHE_KEY) is None
    assert client.keys("*") == []


def test_an_unreadable_entry_is_a_miss(client: redis.Redis, clock: ManualClock) -> None:
    client.set(keys.batch_listing(digest(CACHE_KEY)), b"{not json")
    assert RedisListingCache(client, clock).get(CACHE_KEY) is None
    client.set(keys.batch_listing(digest(CACHE_KEY)), b'{"k": {"size": 1}}')
    assert RedisListingCache(client, clock).get(CACHE_KEY) is None


def test_redis_trouble_is_a_first_party_error(redis_server: RedisServer, clock: ManualClock) -> None:
    client = redis.Redis.from_url(redis_server.url, socket_timeout=1)
    redis_server.kill()
    with pytest.raises(FirstPartyGenericError, match="batch listing read"):
        RedisListingCache(client, clock).get(CACHE_KEY)
    client.close()


def test_workers_reading_one_files_chunks_in_different_tasks_list_once(
    simulator: SimulatorProcess, client: redis.Redis
) -> None:
    clocks = Clocks(simulator)
    shared = RedisListingCache(client, clocks.client)
    with closing(Workers(simulator, clocks.client)) as workers:
        # Given tasks in different workers (no token, no listing of their own in memory), each
        # reading one chunk of two records from the cursor the previous one committed
        cursor = start_cursor(SIEM_BATCH, clocks)
        taken: list[Page] = []
        for _ in range(8):
            page = drain(
                workers.fetcher(chunk_records=2, listings=shared), SIEM_BATCH, stored(cursor), limit=1
            )
            taken += page
            cursor = page[0].end
        # Then some started inside a file, and all read on from the shared listing: it was asked once
        starts = [page.start for page in taken]
        assert any(isinstance(start, BatchCursor) and start.line > 0 for start in starts)
        assert simulator.state()["calls"]["batch"] == 1
        assert len(set(truth_ids(taken))) == len(truth_ids(taken)) >= 8
        assert isinstance(cursor, BatchCursor)
        assert cursor.files  # still inside the first listing
        # And a worker without the shared cache has to list again
        lone = workers.fetcher(chunk_records=2, listings=MemoryListingCache())
        drain(lone, SIEM_BATCH, stored(cursor), limit=1)
        assert simulator.state()["calls"]["batch"] == 2

"""The Redis token cache: one token per credential pair, shared by every worker; one refresher."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from core.clock import SystemClock
from core.errors import FirstPartyGenericError
from core.mimecast.auth import TokenFlow
from core.models import AccessToken, Credentials
from core.store import keys
from core.store.tokens import RedisTokenCache
from tests.support.redis_server import RedisServer

CREDENTIALS = Credentials("app-id", "app-secret")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(redis_server.url)
    yield connection
    connection.close()


def test_a_token_is_stored_under_its_named_key_and_expires_with_it(client: redis.Redis) -> None:
    # Given a token put in the cache for 60 s
    cache = RedisTokenCache(client)
    cache.put(CREDENTIALS.key, AccessToken("tok", time.time() + 60), ttl_seconds=60)
    # Then it is read back, under the key keys.py names, with a TTL that ends with the token
    assert cache.get(CREDENTIALS.key) == AccessToken("tok", pytest.approx(time.time() + 60, abs=2))
    assert 55_000 < client.pttl(keys.token(CREDENTIALS.key)) <= 60_000
    assert b"app-secret" not in b"".join(client.keys("*"))


def test_an_expired_token_is_gone(client: redis.Redis) -> None:
    cache = RedisTokenCache(client)
    cache.put(CREDENTIALS.key, AccessToken("tok", time.time() + 0.1), ttl_seconds=0.1)
    time.sleep(0.25)
    assert cache.get(CREDENTIALS.key) is None


def test_discarding_a_token_leaves_a_newer_one_in_place(client: redis.Redis) -> None:
    cache = RedisTokenCache(client)
    cache.put(CREDENTIALS.key, AccessToken("new", time.time() + 60), ttl_seconds=60)
    cache.discard(CREDENTIALS.key, "old")
    assert cache.get(CREDENTIALS.key) is not None
    cache.discard(CREDENTIALS.key, "new")
    assert cache.get(CREDENTIALS.key) is None


def test_an_unreadable_entry_reads_as_no_token(client: redis.Redis) -> None:
    client.set(keys.token(CREDENTIALS.key), b"not json")
    assert RedisTokenCache(client).get(CREDENTIALS.key) is None


def test_the_refresh_lock_has_one_owner_who_alone_releases_it(client: redis.Redis) -> None:
    cache = RedisTokenCache(client)
    assert cache.try_lock(CREDENTIALS.key, "worker-a", 30)
    assert not cache.try_lock(CREDENTIALS.key, "worker-b", 30)
    cache.unlock(CREDENTIALS.key, "worker-b")  # not the owner: no effect
    assert not cache.try_lock(CREDENTIALS.key, "worker-b", 30)
    cache.unlock(CREDENTIALS.key, "worker-a")
    assert cache.try_lock(CREDENTIALS.key, "worker-b", 30)


def test_a_lock_left_by_a_dead_worker_expires(client: redis.Redis) -> None:
    cache = RedisTokenCache(client)
    assert cache.try_lock(CREDENTIALS.key, "dead-worker", 0.1)
    time.sleep(0.25)
    assert cache.try_lock(CREDENTIALS.key, "live-worker", 30)


def test_threads_with_their_own_connections_cause_one_token_request(redis_server: RedisServer) -> None:
    # Given sixteen workers, each with its own connection, needing a token at the same moment
    calls: list[int] = []

    def token_endpoint(credentials: Credentials) -> AccessToken:
        calls.append(1)
        time.sleep(0.3)
        return AccessToken("shared-token", time.time() + 1799)

    results: list[str] = []

    def worker() -> None:
        connection = redis.Redis.from_url(redis_server.url)
        try:
            flow = TokenFlow(RedisTokenCache(connection), token_endpoint, SystemClock(), wait_step=0.01)
            results.append(flow.token(CREDENTIALS))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then all got the same token and Mimecast was asked once
    assert results == ["shared-token"] * 16
    assert len(calls) == 1


WORKER_SCRIPT = """
import sys, time, redis
from core.clock import SystemClock
from core.mimecast.auth import TokenFlow
from core.models import AccessToken, Credentials
from core.store.tokens import RedisTokenCache

connection = redis.Redis.from_url(sys.argv[1])
start_at = float(sys.argv[2])

def token_endpoint(credentials):
    connection.incr("test:token-requests")
    time.sleep(0.5)
    return AccessToken("token-from-pid-%d" % __import__("os").getpid(), time.time() + 1799)

flow = TokenFlow(RedisTokenCache(connection), token_endpoint, SystemClock(), wait_step=0.01)
time.sleep(max(0.0, start_at - time.time()))
print(flow.token(Credentials("app-id", "app-secret")))
"""


def test_worker_processes_refresh_one_at_a_time(redis_server: RedisServer) -> None:
    # Given six worker processes that all need the token at the same instant
    start_at = time.time() + 1.5
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER_SCRIPT, redis_server.url, str(start_at)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(6)
    ]
    outputs = [process.communicate(timeout=60) for process in processes]
    assert all(process.returncode == 0 for process in processes), [err.decode() for _, err in outputs]
    # Then one of them asked Mimecast, and all use its token
    tokens = {out.decode().strip() for out, _ in outputs}
    assert len(tokens) == 1
    connection = redis.Redis.from_url(redis_server.url)
    try:
        assert connection.get("test:token-requests") == b"1"
    finally:
        connection.close()


def test_redis_trouble_is_a_first_party_error(redis_server: RedisServer) -> None:
    connection = redis.Redis.from_url(redis_server.url, socket_timeout=0.5, socket_connect_timeout=0.5)
    cache = RedisTokenCache(connection)
    redis_server.kill()
    try:
        with pytest.raises(FirstPartyGenericError, match="Redis token read failed"):
            cache.get(CREDENTIALS.key)
    finally:
        connection.close()

"""The private Redis fixture: the suite's own server, its data kept across a kill -9."""

from __future__ import annotations

import pytest
import redis

from tests.support.redis_server import RedisServer


def test_the_fixture_serves_a_private_redis_on_its_own_port(redis_server: RedisServer) -> None:
    assert redis_server.port != 6379
    client = redis.Redis.from_url(redis_server.url)
    client.set("k", "v")
    assert client.get("k") == b"v"
    assert client.config_get("appendonly") == {"appendonly": "yes"}
    client.close()


def test_data_written_before_a_kill_9_is_there_after_the_restart(redis_server: RedisServer) -> None:
    client = redis.Redis.from_url(redis_server.url)
    client.set("checkpoint", "42")
    client.close()

    redis_server.restart()

    client = redis.Redis.from_url(redis_server.url)
    assert client.get("checkpoint") == b"42"
    client.close()


def test_a_killed_server_refuses_connections_until_restarted(redis_server: RedisServer) -> None:
    redis_server.kill()
    client = redis.Redis.from_url(redis_server.url, socket_connect_timeout=0.5)
    with pytest.raises(redis.ConnectionError):
        client.ping()

    redis_server.start()
    assert client.ping()
    client.close()

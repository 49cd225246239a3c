"""Counters shared by every worker, read back by label."""

from __future__ import annotations

import pytest
import redis

from core.store.counters import ERRORS, RECORDS_FORWARDED, Counters
from tests.support.redis_server import RedisServer


def test_counts_add_up_per_label_set_and_a_deleted_source_is_forgotten(redis_server: RedisServer) -> None:
    counters = Counters(redis.Redis.from_url(redis_server.url))
    counters.add(RECORDS_FORWARDED, {"source": "s1", "collection": "dlp"}, 100)
    counters.add(RECORDS_FORWARDED, {"collection": "dlp", "source": "s1"}, 5)
    counters.add(RECORDS_FORWARDED, {"source": "s2", "collection": "siem"}, 7)
    counters.add(ERRORS, {"source": "s1", "collection": "dlp", "type": "ThirdPartyGeneric"})

    assert counters.read(RECORDS_FORWARDED) == {
        (("collection", "dlp"), ("source", "s1")): 105,
        (("collection", "siem"), ("source", "s2")): 7,
    }
    counters.forget_source("s1")
    assert counters.read(RECORDS_FORWARDED) == {(("collection", "siem"), ("source", "s2")): 7}
    assert counters.read(ERRORS) == {}


def test_a_label_that_would_corrupt_the_series_is_refused(redis_server: RedisServer) -> None:
    counters = Counters(redis.Redis.from_url(redis_server.url))
    with pytest.raises(ValueError, match="holds"):
        counters.add(RECORDS_FORWARDED, {"source": "a,b"})


def test_counts_queued_on_a_pipeline_land_when_it_is_sent_and_records_forwarded_is_refused(
    redis_server: RedisServer,
) -> None:
    client = redis.Redis.from_url(redis_server.url)
    counters = Counters(client)
    pipe = client.pipeline(transaction=False)
    counters.queue(pipe, ERRORS, {"source": "s1", "collection": "dlp"}, 3)
    counters.queue(pipe, ERRORS, {"collection": "dlp", "source": "s1"})
    counters.queue(pipe, ERRORS, {"source": "s2", "collection": "dlp"}, 0)  # nothing to add: no command
    assert counters.read(ERRORS) == {}  # nothing is sent before the pipeline is
    assert len(pipe.command_stack) == 2
    pipe.execute()
    assert counters.read(ERRORS) == {(("collection", "dlp"), ("source", "s1")): 4}
    with pytest.raises(ValueError, match="history"):
        counters.queue(pipe, RECORDS_FORWARDED, {"source": "s1", "collection": "dlp"}, 1)
    with pytest.raises(ValueError, match="holds"):
        counters.queue(pipe, ERRORS, {"source": "a=b"})

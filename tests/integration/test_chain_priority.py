"""Chains go to the broker with their unit's priority: a worker takes a source's start first, then a
stream's chain, then a sub-window, then a file, each as they were queued (kombu's Redis transport:
one list per priority step, read in order)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
import redis
from celery import current_app, signature

from tasks.chains import broker_waiting, carried_on, start_chains
from tests.support.celery_worker import TEST_SECRETS_KEY
from tests.support.redis_server import RedisServer
from worker.config import create_celery
from worker.settings import Settings


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[redis.Redis]:
    server = RedisServer(tmp_path / "redis")
    server.start()
    previous = current_app._get_current_object()
    create_celery(Settings(_env_file=None, redis_url=server.url, secrets_key=TEST_SECRETS_KEY)).set_current()
    client = redis.Redis.from_url(server.url)
    try:
        yield client
    finally:
        previous.set_current()
        client.close()
        server.stop()


def test_a_start_a_streams_chain_then_a_sub_window_are_popped_before_a_file_queued_ahead_of_them(
    broker: redis.Redis,
) -> None:
    start_chains(["s1:siem@f.abc", "s1:dlp@w.100"])
    start_chains(["s1:holdMessageList"])
    signature("tasks.lifecycle.start_source", args=["s2", 1]).apply_async()  # Celery's default priority
    # The worker's BRPOP names the lists in this order and takes from the first that holds one.
    order = ["celery", "celery\x06\x163", "celery\x06\x166", "celery\x06\x169"]
    popped = []
    while (item := broker.brpop(order, timeout=1)) is not None:
        popped.append(json.loads(item[1])["headers"]["argsrepr"])
    assert popped == [
        repr(("s2", 1)),  # a source's start waits behind no collection work
        *(repr((unit,)) for unit in ("s1:holdMessageList", "s1:dlp@w.100", "s1:siem@f.abc")),
    ]


def test_a_process_carrying_on_from_file_to_file_stops_for_a_streams_chain_waiting_in_the_broker(
    broker: redis.Redis,
) -> None:
    start_chains(["s1:holdMessageList"])  # the hold list's next page, queued while a file is read
    queued: list[str] = []
    ran: list[str] = []
    with closing(carried_on("s1:siem@f.a", seconds=60, queue=queued.extend, waiting=broker_waiting)) as units:
        for unit in units:
            ran.append(unit)
            start_chains(["s1:siem@f.b"])
    assert (ran, queued) == (["s1:siem@f.a"], ["s1:siem@f.b"])
    # Once the stream's chain is taken, only chains that come after the file wait: it carries on
    assert broker.llen("celery\x06\x163") == 1
    broker.delete("celery\x06\x163")
    start_chains(["s1:dlp@w.100"])  # a sub-window, which goes before files too
    ran.clear()
    with closing(carried_on("s1:siem@f.b", seconds=60, queue=queued.extend, waiting=broker_waiting)) as units:
        for unit in units:
            ran.append(unit)
            start_chains(["s1:siem@f.c"])
    assert (ran, queued) == (["s1:siem@f.b"], ["s1:siem@f.b", "s1:siem@f.c"])
    assert broker.llen("celery\x06\x166") == 1
    # Once the sub-window is taken, only files wait: it carries on from file to file
    broker.delete("celery\x06\x166", "celery\x06\x169")
    ran.clear()
    with closing(carried_on("s1:siem@f.c", seconds=60, queue=queued.extend, waiting=broker_waiting)) as units:
        for unit in units:
            ran.append(unit)
            if len(ran) == 1:
                start_chains(["s1:siem@f.d"])
    assert ran == ["s1:siem@f.c", "s1:siem@f.d"]

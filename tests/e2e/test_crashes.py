"""Crashes in the middle of a drain: kill -9 of workers mid-forward, kill -9 of redis-server.

A bigger backlog in small chunks keeps many fetch -> forward chains going while things die. The
killed worker's message comes back after the (shortened) visibility timeout, and a lost chain's
stream comes due again after its hold; checkpoints only ever move after delivery, and batch ids
are deterministic, so the file destination ends with every record exactly once.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis

from core.store import keys
from tests.e2e.harness import Deployment, deploy, duplicates, missing, wait_caught_up
from tests.support.celery_worker import CeleryWorker
from tests.support.stack import wait_for

pytestmark = pytest.mark.timeout(300)
BIG = {"events_per_minute": 40}
SMALL_PAGES = {"MAX_RECORDS_PER_CHUNK": "100"}


def forwarding(worker: CeleryWorker, offset: int) -> bool:
    """Whether the worker has received a chain's task since `offset` of its log (it runs it at once):
    a fetch forwards its page in the same task (`tasks.chains`)."""
    return any(
        ("tasks.fetch.fetch[" in line or "tasks.forward.forward[" in line) and "received" in line
        for line in worker.log()[offset:].splitlines()
    )


def kill_mid_forward(deployment: Deployment, generation: int) -> None:
    offsets = {worker.name: len(worker.log()) for worker in deployment.workers}
    victim = wait_for(
        lambda: next((w for w in deployment.workers if forwarding(w, offsets[w.name])), None),
        timeout=30,
        what="a forward in progress",
    )
    victim.kill()
    deployment.workers.remove(victim)
    deployment.add_worker(f"r{generation}")


def test_workers_killed_mid_forward_lose_nothing_and_duplicate_nothing(tmp_path: Path) -> None:
    with deploy(tmp_path, simulator=BIG, settings=SMALL_PAGES) as deployment:
        collector, source = deployment.create_source()
        wait_for(deployment.lines, timeout=60, what="the first delivered lines")
        assert missing(deployment.delivered(), deployment.expected()), "the drain is still under way"
        for generation in range(3):
            kill_mid_forward(deployment, generation)
        delivered = wait_caught_up(deployment, deployment.delivered, timeout=150)
        assert duplicates(delivered) == {}
        assert deployment.state(collector, source)["state"] == "Collecting"
        for worker in deployment.workers:
            worker.stop()


def test_redis_killed_mid_drain_and_restarted_loses_nothing(tmp_path: Path) -> None:
    with deploy(tmp_path, simulator=BIG, settings=SMALL_PAGES) as deployment:
        collector, source = deployment.create_source()
        wait_for(lambda: len(deployment.lines()) > 300, timeout=60, what="a drain under way")
        assert missing(deployment.delivered(), deployment.expected()), "the drain is still under way"
        deployment.redis_server.kill()
        time.sleep(1.0)
        deployment.redis_server.start()
        delivered = wait_caught_up(deployment, deployment.delivered, timeout=150)
        assert duplicates(delivered) == {}
        assert deployment.state(collector, source)["state"] == "Collecting"


@pytest.mark.parametrize(
    ("workers", "pool", "concurrency"),
    [(2, "solo", 1), (1, "threads", 8)],
    ids=["two-processes", "one-process-of-eight-threads"],
)
def test_workers_killed_while_a_dozen_files_of_one_listing_are_in_flight_lose_nothing(
    tmp_path: Path, workers: int, pool: str, concurrency: int
) -> None:
    # Under the threads pool one kill ends every task of the process at once.
    settings = {**SMALL_PAGES, "MAX_IN_FLIGHT_PER_SOURCE": "16", "BACKFILL_SPLIT_SECONDS": "0"}
    kind = {"workers": workers, "pool": pool, "concurrency": concurrency}
    with deploy(tmp_path, simulator=BIG, settings=settings, **kind) as deployment:
        collector, source = deployment.create_source()
        client = redis.Redis.from_url(deployment.redis_server.url)
        running = keys.source_children_running(source)
        wait_for(lambda: client.scard(running) >= 12, timeout=60, what="a dozen SIEM files in flight")
        in_flight = {member.decode() for member in client.smembers(running)}
        assert all("@f." in unit for unit in in_flight)
        banner = f"concurrency: {concurrency} ({'thread' if pool == 'threads' else pool})"
        assert banner in deployment.workers[0].log()  # Celery's banner: the pool asked for
        for worker in list(deployment.workers):
            worker.kill()
            deployment.workers.remove(worker)
        for generation in range(2):
            deployment.add_worker(f"r{generation}", pool, concurrency)
        delivered = wait_caught_up(deployment, deployment.delivered, timeout=200)
        assert duplicates(delivered) == {}
        assert client.scard(running) == 0  # every file finished and gave its slot back
        assert deployment.state(collector, source)["state"] == "Collecting"
        client.close()
        for worker in deployment.workers:
            worker.stop()

"""The child process of the dispatch benchmark (`bench.dispatch_tick`): the worker's own Celery app,
built from the environment the parent set, its broker the parent's private redis-server.

It stores the sources, seeds the due set, times the task beat enqueues, called in-process, and
writes what it measured as JSON to the file the parent named. Between ticks the queue is emptied,
outside the timing. After each timed tick the work the tick handed on is followed through: the
queue is read in order and every task of the dispatch task's own module (a helper that starts a
share of the chains, in an engine that has one) is run here, timed, until the first message of
another task (a chain's first task); the rest of the queue is counted and purged. The queue is
FIFO, so the helpers a tick queued come before the chains they start.
"""

from __future__ import annotations

import json
import math
import os
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import redis
from celery import Celery

from bench.dispatch_tick import COLLECTIONS, MAX_CLEARING_TICKS, POLL_SECONDS, SAMPLE, TICK_SECONDS
from tests.support.celery_worker import TEST_SECRETS_KEY


def _sources(client: redis.Redis, count: int) -> list[str]:
    from core.models import CollectorConfig, SourceConfig
    from core.store import keys
    from core.store.collectors import CollectorStore
    from core.store.secrets import SecretBox
    from core.store.sources import SourceStore

    now = datetime.now(UTC)
    collector = CollectorStore(client).create(CollectorConfig(name="dispatch-bench"), now)
    store = SourceStore(client, SecretBox(os.environ.get("SECRETS_KEY", TEST_SECRETS_KEY)))
    streams = []
    for index in range(count):
        config = SourceConfig(name=f"source-{index}", client_id="bench-client", data_collection=COLLECTIONS)
        source = store.create(collector.id, config, "bench-secret", now)
        streams += [keys.stream_of(source.id, collection) for collection in COLLECTIONS]
    return streams


class DueSet(Protocol):
    """The due-set methods the benchmark uses, the same in the engine before issue 9 and after."""

    def schedule(self, unit: str, at: float) -> None: ...
    def due_at(self, unit: str) -> float | None: ...
    def overdue(self, now: float) -> int: ...


def due_set(client: redis.Redis) -> DueSet:
    """The store that owns the due set, whichever engine this tree has."""
    try:
        from core.store.coordination import Coordination

        return Coordination(client)
    except ImportError:
        from core.store.streams import StreamStore  # the engine before issue 9

        store: DueSet = StreamStore(client)
        return store


def follow_through(app: Celery, dispatch: Any) -> dict[str, float]:
    """What a tick sent, then its helpers (tasks of the dispatch task's module) run here, timed."""
    module = dispatch.name.rsplit(".", 1)[0] + "."
    helpers, seconds, chains = 0, 0.0, 0
    with app.connection_for_read() as connection:
        queue = connection.SimpleQueue(app.conf.task_default_queue)
        try:
            sent = queue.qsize()
            while True:
                try:
                    message = queue.get(block=False)
                except queue.Empty:
                    break
                name = str(message.headers.get("task", ""))
                message.ack()
                if not name.startswith(module):
                    chains += 1
                    break
                args, kwargs, _ = message.decode()
                began = time.perf_counter()
                app.tasks[name](*args, **kwargs)
                seconds += time.perf_counter() - began
                helpers += 1
        finally:
            queue.close()
    chains += int(app.control.purge() or 0)
    return {"messages": sent, "helpers": helpers, "helper_seconds": seconds, "chains": chains}


def child(params: dict[str, Any]) -> None:
    from worker.app import app

    app.loader.import_default_modules()
    entry = next(iter(app.conf.beat_schedule.values()))  # beat's one entry: dispatch
    task = app.tasks[entry["task"]]
    args, kwargs = entry.get("args", ()), entry.get("kwargs", {})

    def tick() -> float:
        began = time.perf_counter()
        task(*args, **kwargs)
        return time.perf_counter() - began

    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    store = due_set(client)
    began = time.perf_counter()
    ids = _sources(client, -(-int(params["streams"]) // len(COLLECTIONS)))[: int(params["streams"])]
    rng = random.Random(9)
    due = rng.sample(ids, int(params["due"]))
    chosen = set(due)
    now = time.time()
    for stream in ids:
        if stream not in chosen:
            store.schedule(stream, now + rng.uniform(1800, 3600))  # never due while the ticks are timed
    per_schedule = (time.time() - now) / max(1, len(ids) - len(chosen))
    due_at = {stream: now - rng.uniform(0, 5) for stream in due}
    print(f"  (setup: {len(ids):,} streams of {len(ids) // len(COLLECTIONS):,} sources made and scheduled "
          f"in {time.perf_counter() - began:.1f} s)")  # fmt: skip

    def arm() -> None:
        for stream, at in due_at.items():
            store.schedule(stream, at)
        app.control.purge()

    arm()
    tick()  # warm-up, not counted: a worker's first task opens its connections
    ticks = []
    for _ in range(int(params["ticks"])):
        arm()
        start = time.time()
        before = store.overdue(start)
        seconds = tick()
        left = store.overdue(start)
        ticks.append(
            {"seconds": seconds, "claimed": before - left, "left": left, **follow_through(app, task)}
        )
    arm()
    start, spent, count = time.time(), 0.0, 0
    while store.overdue(start) and count < MAX_CLEARING_TICKS:
        spent += tick()
        count += 1
        app.control.purge()
    clearing = {"ticks": count, "seconds": spent, "left": store.overdue(start)}
    lead = 1.0 + 2 * per_schedule * len(ids)  # the first tick comes after every stream is scheduled
    steady = steady_state(store, ids, float(params["steady_seconds"]), lead, tick, app.control.purge)
    Path(params["out"]).write_text(json.dumps({"ticks": ticks, "clearing": clearing, "steady": steady}))


def steady_state(
    store: DueSet, ids: list[str], seconds: float, lead: float, tick: Any, purge: Any
) -> list[dict[str, float]]:
    """Every stream due once per poll interval, spread evenly; a tick every TICK_SECONDS.

    The engine itself puts each claimed stream one poll interval ahead (STREAM_HOLD_SECONDS is the
    poll interval in this process), so nothing but the tick touches the due set while it runs. A
    sample of streams is followed (`due_at`) to tell how long the oldest left overdue has waited.
    """
    order = list(ids)
    random.Random(11).shuffle(order)
    origin = time.time() + lead
    due_at = {stream: origin + index * POLL_SECONDS / len(order) for index, stream in enumerate(order)}
    for stream, at in due_at.items():
        store.schedule(stream, at)
    sample = {stream: due_at[stream] for stream in order[:: max(1, len(order) // SAMPLE)]}
    purge()
    results = []
    # Ticks are due every TICK_SECONDS from origin; a slot passed while busy is dropped, as beat drops it.
    slot = 0
    while slot * TICK_SECONDS < seconds:
        time.sleep(max(0.0, origin + slot * TICK_SECONDS - time.time()))
        start = time.time()
        due = store.overdue(start)
        elapsed = tick()
        left = store.overdue(start)
        waiting = []
        for stream, at in sample.items():
            if at <= start:
                now_due = store.due_at(stream)
                if now_due is not None and now_due <= start:
                    waiting.append(start - at)  # left overdue by this tick
                else:
                    sample[stream] = now_due if now_due is not None else float("inf")
        results.append(
            {
                "seconds": elapsed,
                "due": due,
                "claimed": due - left,
                "left": left,
                "lateness": max(waiting, default=0.0),
                "messages": purge(),
            }
        )
        following = max(slot + 1, math.ceil((time.time() - origin) / TICK_SECONDS))
        results[-1]["dropped"] = following - slot - 1  # slots that passed while this tick ran
        slot = following
    return results


if __name__ == "__main__":
    child(json.loads(sys.argv[1]))

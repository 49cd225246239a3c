"""Dispatch: the time of one tick (claim + enqueue) with 40,000 streams configured and 10,000 due.

A private redis-server holds 10,000 sources of the four collections (40,000 streams), made with the
stores' public methods (`CollectorStore.create`, `SourceStore.create`); the due set is seeded with
`schedule`, read back with `overdue` and `due_at` of the store that owns it (`Coordination` in
`core/store/coordination.py`; before issue 9, `StreamStore` in `core/store/streams.py`). The tick is
the body of the task beat enqueues (its one `beat_schedule` entry), called in a fresh process whose
Celery app is the worker's (`worker.app`), built from the environment with the private Redis as its
broker: the claim runs in Redis and every message is really sent. Between ticks, outside the timing,
the queue is purged (`app.control.purge()`, whose count is the messages the tick sent).

1. Ticks: each starts with the same 10,000 streams due (the other 30,000 due in 30 to 60 minutes);
   its time, how many it claimed, how many it left overdue. Then ticks back to back until no
   stream is overdue: how many it takes.
2. Steady state: every stream polled every 300 s and beat every 5 s (as deployed), time compressed
   5x: 40,000 streams spread over a 60 s poll interval, a tick every second, so as many come due per
   tick as in production (about 667). A claimed stream is scheduled again one poll interval after
   its tick, as a stream that caught up is. After each tick: the streams due at its start that it
   left overdue, and how late the oldest of them is.

Target: a tick with 10,000 due takes < 1 s (and claims them all); no stream stays overdue.
"""

from __future__ import annotations

import heapq
import json
import math
import os
import random
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import redis

from bench.targets import ceil3
from tests.support.celery_worker import TEST_SECRETS_KEY, base_env
from tests.support.redis_server import RedisServer

COLLECTIONS = ("siem", "dlp", "auditEvent", "holdMessageList")
STREAMS = 40_000
DUE = 10_000
TICKS = 5
COMPRESSION = 5.0  # a tick that meets its target (< 1 s) still fits in the compressed interval
POLL_SECONDS = 300.0 / COMPRESSION
TICK_SECONDS = 5.0 / COMPRESSION
STEADY_SECONDS = 30.0
MAX_CLEARING_TICKS = 200


@dataclass(frozen=True)
class Dispatch:
    configured: int
    due: int
    ticks: list[dict[str, float]]  # seconds, claimed, left overdue, messages sent
    clearing: dict[str, float]  # ticks, seconds, overdue left
    steady: list[dict[str, float]]  # seconds, due, claimed, left overdue, lateness

    @property
    def tick_p50(self) -> float:
        return statistics.median(tick["seconds"] for tick in self.ticks)

    @property
    def tick_max(self) -> float:
        return max(tick["seconds"] for tick in self.ticks)

    @property
    def claims_all(self) -> bool:
        return all(tick["left"] == 0 for tick in self.ticks)

    @property
    def steady_left(self) -> int:
        return int(max((tick["left"] for tick in self.steady), default=0))

    @property
    def steady_lateness(self) -> float:
        return max((tick["lateness"] for tick in self.steady), default=0.0)


def run(
    directory: Path,
    streams: int = STREAMS,
    due: int = DUE,
    ticks: int = TICKS,
    steady_seconds: float = STEADY_SECONDS,
    settings: dict[str, str] | None = None,
) -> Dispatch:
    print(f"Dispatch: one tick (claim + enqueue) with {streams:,} streams configured and {due:,} due")
    directory.mkdir(parents=True, exist_ok=True)
    server = RedisServer(directory / "redis")
    server.start()
    try:
        client = redis.Redis.from_url(server.url)
        client.config_set("appendfsync", "everysec")  # as docker-compose.yml runs it
        client.close()
        env = base_env(
            server.url,
            None,
            SINK_URL=f"file://{directory / 'destination'}",
            LOG_LEVEL="WARNING",
            **(settings or {}),
        )
        out = directory / "dispatch.json"
        params = {
            "streams": streams,
            "due": due,
            "ticks": ticks,
            "steady_seconds": steady_seconds,
            "out": str(out),
        }
        command = [sys.executable, "-m", "bench.dispatch_tick", json.dumps(params)]
        subprocess.run(command, env=env, check=True)
        found = json.loads(out.read_text())
    finally:
        server.stop()
    result = Dispatch(streams, due, found["ticks"], found["clearing"], found["steady"])
    report(result)
    return result


def report(result: Dispatch) -> None:
    print(
        "  {:<8}{:>10}{:>10}{:>16}{:>15}".format(
            "tick", "seconds", "claimed", "left overdue", "messages sent"
        )
    )
    for number, tick in enumerate(result.ticks, 1):
        print(f"  {number:<8}{tick['seconds']:>10.3f}{tick['claimed']:>10,.0f}{tick['left']:>16,.0f}"
              f"{tick['messages']:>15,.0f}")  # fmt: skip
    print(f"  tick time: p50 {ceil3(result.tick_p50):.3f} s, max {ceil3(result.tick_max):.3f} s")
    clearing = result.clearing
    cleared = (
        "every due stream claimed" if clearing["left"] == 0 else f"{clearing['left']:,.0f} still overdue"
    )
    ticking = f"{clearing['ticks']:.0f} tick(s), {clearing['seconds']:.2f} s of ticking"
    print(f"  back to back from {result.due:,} due: {ticking}, {cleared}")
    steady = result.steady
    late_ticks = sum(1 for tick in steady if tick["seconds"] > TICK_SECONDS)
    dropped = sum(int(tick.get("dropped", 0)) for tick in steady)
    times = [tick["seconds"] for tick in steady]
    print(f"  steady state: {len(steady)} ticks, {POLL_SECONDS:.0f} s poll interval and a tick every "
          f"{TICK_SECONDS} s (production's 300 s and 5 s, compressed {COMPRESSION:.0f}x)")  # fmt: skip
    if steady:
        due = statistics.mean(tick["due"] for tick in steady)
        overdue_ticks = sum(1 for tick in steady if tick["left"] > 0)
        p50, most = ceil3(statistics.median(times)), ceil3(max(times))
        print(f"    due per tick: {due:,.0f} on average; tick time p50 {p50:.3f} s, max {most:.3f} s; "
              f"{late_ticks} tick(s) longer than the interval, {dropped} slot(s) dropped")  # fmt: skip
        print(f"    ticks that left a due stream overdue: {overdue_ticks} of {len(steady)}; the most left "
              f"overdue after a tick: {result.steady_left:,}, at the end: {steady[-1]['left']:,.0f}; "
              f"the longest wait past due: {ceil3(result.steady_lateness):.3f} s")  # fmt: skip


# The child process: the worker's Celery app, built from the environment the parent set.


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
            {"seconds": seconds, "claimed": before - left, "left": left, "messages": app.control.purge()}
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
    """Every stream due once per poll interval, spread evenly; a tick every TICK_SECONDS."""
    order = list(ids)
    random.Random(11).shuffle(order)
    origin = time.time() + lead
    pending = [(origin + index * POLL_SECONDS / len(order), stream) for index, stream in enumerate(order)]
    for at, stream in pending:
        store.schedule(stream, at)
    heapq.heapify(pending)
    purge()
    results = []
    # Ticks are due every TICK_SECONDS from origin; a slot passed while busy is dropped, as beat drops it.
    slot = 0
    while slot * TICK_SECONDS < seconds:
        time.sleep(max(0.0, origin + slot * TICK_SECONDS - time.time()))
        start = time.time()
        due = []
        while pending and pending[0][0] <= start:
            due.append(heapq.heappop(pending))
        elapsed = tick()
        left = []
        for at, stream in due:
            score = store.due_at(stream)
            if score is not None and score <= start:
                left.append((at, stream))  # still due: not claimed by this tick
            else:
                store.schedule(stream, start + POLL_SECONDS)
                heapq.heappush(pending, (start + POLL_SECONDS, stream))
        for item in left:
            heapq.heappush(pending, item)
        results.append(
            {
                "seconds": elapsed,
                "due": len(due),
                "claimed": len(due) - len(left),
                "left": store.overdue(start),
                "lateness": start - min((at for at, _ in left), default=start),
            }
        )
        purge()
        following = max(slot + 1, math.ceil((time.time() - origin) / TICK_SECONDS))
        results[-1]["dropped"] = following - slot - 1  # slots passed while this tick and its bookkeeping ran
        slot = following
    return results


if __name__ == "__main__":
    child(json.loads(sys.argv[1]))

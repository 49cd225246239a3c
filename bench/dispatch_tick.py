"""Dispatch: the time of one tick (claim + enqueue) with 40,000 streams configured and 10,000 due.

A private redis-server holds 10,000 sources of the four collections (40,000 streams), made with the
stores' public methods (`CollectorStore.create`, `SourceStore.create`); the due set is seeded with
`schedule`, read back with `overdue` and `due_at` of the store that owns it (`Coordination` in
`core/store/coordination.py`; before issue 9, `StreamStore` in `core/store/streams.py`). The tick is
the body of the task beat enqueues (its one `beat_schedule` entry), called in a fresh process whose
Celery app is the worker's (`worker.app`), built from the environment with the private Redis as its
broker: the claim runs in Redis and every message is really sent (`bench/dispatch_child.py`).

1. Ticks: each starts with the same 10,000 streams due (the other 30,000 due in 30 to 60 minutes);
   its time, how many it claimed, how many it left overdue, the messages it sent. A tick that hands
   the starting of chains to helper tasks is followed through: the helpers it queued are run one
   after the other, timed, and the chains counted, so the cost moved off the tick stays in view.
   Then ticks back to back until no stream is overdue: how many it takes.
2. Steady state: every stream polled every 300 s and beat every 5 s (as deployed), time compressed
   5x: 40,000 streams spread over a 60 s poll interval, a tick every second, so as many come due per
   tick as in production (about 667). A claimed stream comes due again one poll interval later, as
   one that caught up at once would: the engine's own claim does it, with STREAM_HOLD_SECONDS set
   to the poll interval in this process. After each tick: the streams due at its start that it left
   overdue, and how long the longest-waiting of a sample of 400 streams has been overdue.

Target: a tick with 10,000 due takes < 1 s (and claims them all); no stream stays overdue.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import redis

from bench.targets import ceil3
from tests.support.celery_worker import base_env
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
SAMPLE = 400  # streams followed in the steady state to measure how long one waits past due


@dataclass(frozen=True)
class Dispatch:
    configured: int
    due: int
    ticks: list[dict[str, float]]  # seconds, claimed, left, messages, helpers, helper_seconds, chains
    clearing: dict[str, float]  # ticks, seconds, overdue left
    steady: list[dict[str, float]]  # seconds, due, claimed, left overdue, lateness

    @property
    def tick_p50(self) -> float:
        return statistics.median(tick["seconds"] for tick in self.ticks)

    @property
    def tick_max(self) -> float:
        return max(tick["seconds"] for tick in self.ticks)

    @property
    def through_max(self) -> float:
        """The longest tick plus the helpers it queued: until every claimed stream's chain was queued."""
        return max(tick["seconds"] + tick["helper_seconds"] for tick in self.ticks)

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
            STREAM_HOLD_SECONDS=str(POLL_SECONDS),  # a claimed stream is due again a poll interval later
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
        command = [sys.executable, "-m", "bench.dispatch_child", json.dumps(params)]
        subprocess.run(command, env=env, check=True)
        found = json.loads(out.read_text())
    finally:
        server.stop()
    result = Dispatch(streams, due, found["ticks"], found["clearing"], found["steady"])
    report(result)
    return result


def report(result: Dispatch) -> None:
    head = (
        "tick",
        "seconds",
        "claimed",
        "left overdue",
        "messages sent",
        "helpers run",
        "helpers s",
        "chains",
    )
    print("  {:<6}{:>9}{:>9}{:>14}{:>15}{:>13}{:>11}{:>8}".format(*head))
    for number, tick in enumerate(result.ticks, 1):
        print(f"  {number:<6}{tick['seconds']:>9.3f}{tick['claimed']:>9,.0f}{tick['left']:>14,.0f}"
              f"{tick['messages']:>15,.0f}{tick['helpers']:>13,.0f}{tick['helper_seconds']:>11.3f}"
              f"{tick['chains']:>8,.0f}")  # fmt: skip
    print(f"  tick time: p50 {ceil3(result.tick_p50):.3f} s, max {ceil3(result.tick_max):.3f} s")
    if any(tick["helpers"] for tick in result.ticks):
        print(f"  tick and its helpers, every chain queued: max {ceil3(result.through_max):.3f} s "
              "(helpers run one after the other here; workers share them)")  # fmt: skip
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
        sent = statistics.mean(tick.get("messages", 0) for tick in steady)
        print(f"    on average {due:,.0f} due and {sent:,.0f} messages sent per tick; tick time p50 "
              f"{p50:.3f} s, max {most:.3f} s; {late_ticks} tick(s) longer than the interval, "
              f"{dropped} slot(s) dropped")  # fmt: skip
        print(f"    ticks that left a due stream overdue: {overdue_ticks} of {len(steady)}; the most left "
              f"overdue after a tick: {result.steady_left:,}, at the end: {steady[-1]['left']:,.0f}; "
              f"the longest wait past due: {ceil3(result.steady_lateness):.3f} s")  # fmt: skip

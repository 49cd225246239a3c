"""P5: one source (the four collections), 100 ms on every Mimecast call, drained by 1, 2, 4, 8 processes.

And, for comparison (not a target), by one process of Celery's threads pool with as many threads
as the most processes: with Mimecast's latency, a unit of work mostly waits for answers, which
threads wait for side by side in one process. Each row shows the worker's memory after its drain.

One simulator holds a frozen backlog; a reference pass without latency warms it (records built,
files gzipped), then the simulator's control plane adds the latency (`POST /_sim/config
{"latency_ms": 100}`: every Mimecast call, token, listings and file downloads included, waits that
long). Each count of worker processes drains the same backlog with its own Redis and destination,
checked against the ground truth. Target: 8 processes drain it at least 6x as fast as 1.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from bench.backlog import Truth, check_destination, frozen_backlog
from bench.deployment import Deployment, Drain
from bench.pipeline_vs_reference import copy
from bench.targets import floor2

RECORDS = 75_000
PROCESSES = (1, 2, 4, 8)
LATENCY_MS = 100


@dataclass(frozen=True)
class P5:
    drains: dict[int, Drain]  # by worker processes
    exactly_once: dict[int, bool]
    threads: Drain | None = None  # one process of the threads pool (as many threads as the most processes)
    threads_exactly_once: bool = True

    def speedup(self, processes: int) -> float:
        first = self.drains[min(self.drains)]
        return self.drains[processes].rate / first.rate if first.rate else 0.0


def run(
    directory: Path,
    records: int = RECORDS,
    counts: tuple[int, ...] = PROCESSES,
    latency_ms: int = LATENCY_MS,
    settings: dict[str, str] | None = None,
    threads: bool = True,
) -> P5:
    print(f"P5: one source, {latency_ms} ms on every Mimecast call, N worker processes ({records:,} records)")
    sim = frozen_backlog(directory / "sim", records)
    drains: dict[int, Drain] = {}
    exact: dict[int, bool] = {}
    threaded: Drain | None = None
    threaded_exact = True
    try:
        truth = Truth.of(sim)
        print(f"  ground truth: {truth.describe()}")
        warm = copy(sim, directory / "warm.ndjson")
        print(f"  warm-up: reference loop without latency, {warm.records:,} records")
        sim.configure(latency_ms=latency_ms)
        print(
            "  {:<24}{:>10}{:>9}{:>10}{:>10}{:>9}  {}".format(
                "worker", "records", "seconds", "rec/s", "speed-up", "MiB", "delivery"
            )
        )
        runs = [(f"{count} process{'es' if count > 1 else ''}", count, "prefork") for count in counts]
        if threads:
            most = max(counts)
            runs.append((f"1 process, {most} threads", most, "threads"))
        for name, concurrency, pool in runs:
            where = directory / f"workers-{concurrency}-{pool}"
            with Deployment(where, sim.url, concurrency, settings or {}, pool=pool) as deployed:
                drain = deployed.drain(truth.total)
                memory = deployed.workers_memory_mb()
            delivery = check_destination(deployed.destination, truth)
            if pool == "threads":
                threaded, threaded_exact = drain, delivery.exactly_once
            else:
                drains[concurrency], exact[concurrency] = drain, delivery.exactly_once
            speedup = drain.rate / drains[counts[0]].rate if drains[counts[0]].rate else 0.0
            once = "exactly once" if delivery.exactly_once else delivery.describe(truth)
            print(f"  {name:<24}{drain.records:>10,}{drain.seconds:>9.1f}{drain.rate:>10,.0f}"
                  f"{floor2(speedup):>9.2f}x{memory:>9.0f}  {once}")  # fmt: skip
            sys.stdout.flush()
    finally:
        sim.stop()
    return P5(drains, exact, threaded, threaded_exact)

"""`python -m bench ab --base REV`: the P1 backlog drained by the code at REV and by the working
tree, alternately, against one simulator; the medians of the drain time and the workers' CPU.

The machine's speed drifts more from run to run than one change moves P1's ratio, so a change is
measured against its base in one run: the same backlog, the same simulator, rounds that alternate
which side goes first, after one pass of the reference loop that makes the simulator build its
records and files (without it, the first drain, always REV's, took 1.4 to 1.7 times as long as
the others: 6.05 against 4.3 s). REV is checked out in a temporary git worktree; each side's
processes start from its own tree (the product is imported from the current directory), and every drain is
checked against the ground truth. The workers' CPU is their processes' user + system time
(`Deployment.workers_cpu`).
"""

from __future__ import annotations

import statistics
import subprocess
from collections.abc import Iterator
from contextlib import chdir, contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.backlog import Truth, check_destination, frozen_backlog
from bench.deployment import Deployment
from bench.pipeline_vs_reference import RECORDS, copy

ROUNDS = 3


@dataclass(frozen=True)
class Round:
    seconds: float
    cpu: float
    exactly_once: bool


@contextmanager
def worktree(repository: Path, rev: str, where: Path) -> Iterator[Path]:
    """REV checked out at `where` (a detached worktree), removed on exit."""
    subprocess.run(["git", "-C", str(repository), "worktree", "add", "--detach", str(where), rev], check=True)
    try:
        yield where
    finally:
        remove = ["git", "-C", str(repository), "worktree", "remove", "--force", str(where)]
        subprocess.run(remove, check=False)


def drain(directory: Path, url: str, truth: Truth, processes: int, settings: dict[str, str]) -> Round:
    with Deployment(directory, url, processes, settings) as deployed:
        before = deployed.workers_cpu()
        drained = deployed.drain(truth.total)
        used = deployed.workers_cpu() - before
    exact = check_destination(deployed.destination, truth).exactly_once and drained.complete
    return Round(drained.seconds, used, exact)


def run(
    directory: Path,
    base: str,
    rounds: int = ROUNDS,
    processes: int = 2,
    records: int = RECORDS,
    settings: dict[str, str] | None = None,
) -> dict[str, list[Round]]:
    here = Path.cwd()
    print(f"A/B: the P1 backlog ({records:,} nominal), {base} against the working tree, {rounds} rounds")
    results: dict[str, list[Round]] = {base: [], "working tree": []}
    sim = frozen_backlog(directory / "sim", records)
    try:
        truth = Truth.of(sim)
        print(f"  ground truth: {truth.describe()}")
        cold = copy(sim, directory / "cold.ndjson")
        print(f"  warm-up: reference loop, cold simulator: {cold.records:,} records, {cold.rate:,.0f} rec/s")
        with worktree(here, base, directory / "base") as base_tree:
            trees = {base: base_tree, "working tree": here}
            for number in range(rounds):
                order = list(trees) if number % 2 == 0 else list(reversed(trees))
                for name in order:
                    with chdir(trees[name]):
                        done = drain(directory / f"{number}-{len(results[name])}-{name[:4]}", sim.url,
                                     truth, processes, settings or {})  # fmt: skip
                    results[name].append(done)
                    verdict = "exactly once" if done.exactly_once else "NOT exactly once"
                    print(f"  round {number + 1} {name:<14} drain {done.seconds:6.2f} s  "
                          f"workers' CPU {done.cpu:6.2f} s  {verdict}", flush=True)  # fmt: skip
    finally:
        sim.stop()
    for name, rows in results.items():
        seconds = statistics.median(one.seconds for one in rows)
        cpu = statistics.median(one.cpu for one in rows)
        print(f"  median {name:<14} drain {seconds:6.2f} s  workers' CPU {cpu:6.2f} s")
    base_cpu = statistics.median(one.cpu for one in results[base])
    new_cpu = statistics.median(one.cpu for one in results["working tree"])
    if base_cpu:
        print(f"  workers' CPU, working tree / {base}: {new_cpu / base_cpu:.3f}")
    return results

"""P1: a frozen backlog drained by the deployed pipeline and by a plain standard-library loop.

In one run, against one simulator: a first (cold) pass of the reference loop builds the simulator's
records and files; then rounds of the pipeline with one worker of 2 processes and with 1 process,
with a measured pass of the reference loop before the first run and after every run. Each
pipeline run is compared with the mean of the two reference passes either side of it, so a machine
whose speed drifts during the run weighs on both sides of that ratio. The machine's speed drifts
more from one run to the next than many changes move the ratio (on this machine, lone runs of the
same code gave 0.71x to 1.10x against the earlier simulator, whose pages cost it more and more),
so a figure is the median run of its rounds, and every round is printed. Each pipeline run has its
own Redis and destination; each is checked against the ground truth (every record, exactly once).
Target: 2 processes at least as fast as the reference (ratio >= 1.0), 1 process at least 0.6 of it.

Each round then drains the backlog with the floor of the pipeline's duties (`bench.floor`: what every
record owes, done in plain processes with a perfect split and no engine), with 2 and 1 processes,
each against the reference passes either side too: the ratio the pipeline could reach at best.
"""

from __future__ import annotations

import ast
import resource
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench import floor, reference
from bench.backlog import Delivery, Truth, check_destination, frozen_backlog
from bench.deployment import Deployment, Drain
from bench.targets import floor2
from tests.support.simulator import CLIENT_ID, CLIENT_SECRET, SimulatorProcess

RECORDS = 330_000  # about 325,000 in the ground truth (the last, unpublished SIEM period is left out)
ROUNDS = 3
PROCESSES = (2, 1)


@dataclass(frozen=True)
class Copy:
    records: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.records / self.seconds


PIPELINE, FLOOR = "pipeline", "floor"


@dataclass(frozen=True)
class Run:
    """One drain and the reference it is compared with: the mean of the passes either side. `what`
    drained: the deployed pipeline, or the floor of its duties (`bench.floor`)."""

    processes: int
    drain: Drain
    reference: Copy
    exactly_once: bool
    what: str = PIPELINE
    cpu: float = 0.0  # seconds of CPU it used: the worker's processes, or the floor's

    @property
    def ratio(self) -> float:
        return self.drain.rate / self.reference.rate


@dataclass(frozen=True)
class P1:
    truth_total: int
    runs: tuple[Run, ...]

    def of(self, processes: int, what: str = PIPELINE) -> list[Run]:
        """The runs of `what` with `processes`, in the order they ran."""
        return [run for run in self.runs if run.processes == processes and run.what == what]

    def median(self, processes: int, what: str = PIPELINE) -> Run:
        """The run of the median ratio among those with `processes` (of an even count, the lower)."""
        ranked = sorted(self.of(processes, what), key=lambda run: run.ratio)
        return ranked[(len(ranked) - 1) // 2]

    def complete(self, processes: int, what: str = PIPELINE) -> bool:
        return all(run.drain.complete for run in self.of(processes, what))

    @property
    def exactly_once(self) -> bool:
        """Whether every pipeline run delivered every record exactly once."""
        return all(run.exactly_once for run in self.runs if run.what == PIPELINE)

    @property
    def floor_exactly_once(self) -> bool:
        return all(run.exactly_once for run in self.runs if run.what == FLOOR)


def stdlib_only() -> list[str]:
    """The modules `bench/reference.py` imports that are not in the standard library (none, or refuse)."""
    tree = ast.parse(Path(reference.__file__).read_text())
    names = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    names += [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    return [name for name in names if name.split(".")[0] not in (*sys.stdlib_module_names, "__future__")]


def copy(sim: SimulatorProcess, out: Path) -> Copy:
    began = time.perf_counter()
    counts = reference.copy_every_record(sim.url, CLIENT_ID, CLIENT_SECRET, str(out))
    seconds = time.perf_counter() - began
    out.unlink()
    return Copy(sum(counts.values()), seconds)


def between(before: Copy, after: Copy) -> Copy:
    """The reference a run between two passes is compared with: their mean time."""
    return Copy(before.records, (before.seconds + after.seconds) / 2)


def run(directory: Path, records: int = RECORDS, settings: dict[str, str] | None = None,
        rounds: int = ROUNDS) -> P1:  # fmt: skip
    foreign = stdlib_only()
    if foreign:
        raise RuntimeError(f"bench/reference.py must use the standard library only; it imports {foreign}")
    print(f"P1: a frozen backlog, the deployed pipeline against a plain loop (nominal {records:,} records, "
          f"{rounds} round{'s' if rounds > 1 else ''})")  # fmt: skip
    sim = frozen_backlog(directory / "sim", records)
    runs: list[Run] = []
    try:
        truth = Truth.of(sim)
        print(f"  ground truth: {truth.describe()}")
        cold = copy(sim, directory / "cold.ndjson")
        print(f"  warm-up: reference loop, cold simulator: {cold.records:,} records, {cold.rate:,.0f} rec/s")
        last = _reference(sim, directory, truth)
        for number in range(rounds):
            for what in (PIPELINE, FLOOR):
                for processes in PROCESSES:
                    where = directory / f"{what}-{number}-{processes}"
                    drain = _pipeline if what == PIPELINE else _floor
                    drained, cpu, delivery = drain(sim, where, processes, truth, settings or {})
                    name = "pipeline 1 worker" if what == PIPELINE else "floor of the duties"
                    print(f"  round {number + 1}, {name} x {processes} process{plural(processes)}: "
                          f"{delivery.describe(truth)}, {drained.rate:,.0f} rec/s")  # fmt: skip
                    following = _reference(sim, directory, truth)
                    reference_time = between(last, following)
                    runs.append(Run(processes, drained, reference_time, delivery.exactly_once, what, cpu))
                    print(f"    ratio {floor2(runs[-1].ratio):.2f}x, against {runs[-1].reference.rate:,.0f} "
                          "rec/s (the passes either side)", flush=True)  # fmt: skip
                    last = following
    finally:
        sim.stop()
    result = P1(truth.total, tuple(runs))
    _table(result)
    return result


def _pipeline(
    sim: SimulatorProcess, where: Path, processes: int, truth: Truth, settings: dict[str, str]
) -> tuple[Drain, float, Delivery]:
    """One drain by a deployment of `processes`: the drain, the worker's CPU, what it delivered."""
    with Deployment(where, sim.url, processes, settings) as deployed:
        before = deployed.workers_cpu()
        drained = deployed.drain(truth.total)
        cpu = deployed.workers_cpu() - before
    return drained, cpu, check_destination(deployed.destination, truth)


def _floor(
    sim: SimulatorProcess, where: Path, processes: int, truth: Truth, settings: dict[str, str]
) -> tuple[Drain, float, Delivery]:
    """One drain by the floor of the duties (`settings` are the product's: not used)."""
    before = _children_cpu()
    done = floor.drain(sim.url, CLIENT_ID, CLIENT_SECRET, where, processes)
    cpu = _children_cpu() - before
    delivery = check_destination(where, truth)
    shutil.rmtree(where)
    return Drain(done.records, done.seconds, complete=done.records == truth.total), cpu, delivery


def _children_cpu() -> float:
    """User + system seconds of this process's children that have ended (the floor's processes)."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def _reference(sim: SimulatorProcess, directory: Path, truth: Truth) -> Copy:
    done = copy(sim, directory / "reference.ndjson")
    verdict = "every record" if done.records == truth.total else "NOT every record"
    print(f"  reference loop: {done.records:,} records copied ({verdict} of the ground truth), "
          f"{done.rate:,.0f} rec/s", flush=True)  # fmt: skip
    return done


def _table(result: P1) -> None:
    """Each process count's median run next to its reference; then every round's ratio."""
    rounds = len(result.of(PROCESSES[0]))
    head = f"the median of {rounds} round{'s' if rounds > 1 else ''}"
    columns = f"{'records':>10}{'seconds':>9}{'CPU s':>7}{'rec/s':>10}{'/ reference':>13}"
    print(f"  {head:<42}{columns}  every round")
    for processes in PROCESSES:
        run = result.median(processes)
        name = "reference loop (stdlib, 1 process)"
        print(f"  {name:<42}{run.reference.records:>10,}{run.reference.seconds:>9.1f}{'':>7}"
              f"{run.reference.rate:>10,.0f}{'1.00x':>13}")  # fmt: skip
        _row(result, processes, PIPELINE, f"pipeline: 1 worker x {processes} process{plural(processes)}")
        if result.of(processes, FLOOR):
            _row(result, processes, FLOOR, f"floor of the duties x {processes} process{plural(processes)}")


def _row(result: P1, processes: int, what: str, name: str) -> None:
    """The median run of `what` with `processes`, and every round's ratio."""
    run = result.median(processes, what)
    each = ", ".join(f"{floor2(one.ratio):.2f}" for one in result.of(processes, what))
    note = "" if result.complete(processes, what) else " (incomplete)"
    print(f"  {name:<42}{run.drain.records:>10,}{run.drain.seconds:>9.1f}{run.cpu:>7.1f}"
          f"{run.drain.rate:>10,.0f}{floor2(run.ratio):>12.2f}x  {each}{note}")  # fmt: skip


def plural(count: int) -> str:
    return "es" if count > 1 else ""

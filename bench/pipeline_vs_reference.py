"""P1: a frozen backlog drained by the deployed pipeline and by a plain standard-library loop.

In one run, against one simulator: a first (cold) pass of the reference loop builds the simulator's
records and files, then the pipeline with one worker of 2 processes, the reference loop (a measured
pass), the pipeline with 1 process and the reference loop again; the ratios use the mean time of
the two measured passes, so a machine whose load drifts during the run weighs on both sides. Each
pipeline run has its own Redis and destination; each is checked against the ground truth (every
record, exactly once). Target: 2 processes at least as fast as the reference (ratio >= 1.0), 1
process at least 0.6 of it.
"""

from __future__ import annotations

import ast
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench import reference
from bench.backlog import Truth, check_destination, frozen_backlog
from bench.deployment import Deployment, Drain
from bench.targets import floor2
from tests.support.simulator import CLIENT_ID, CLIENT_SECRET, SimulatorProcess

RECORDS = 330_000  # about 325,000 in the ground truth (the last, unpublished SIEM period is left out)


@dataclass(frozen=True)
class Copy:
    records: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.records / self.seconds


@dataclass(frozen=True)
class P1:
    truth_total: int
    reference: Copy
    pipelines: dict[int, Drain]  # by worker processes
    exactly_once: dict[int, bool]

    def ratio(self, processes: int) -> float:
        return self.pipelines[processes].rate / self.reference.rate


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


def run(directory: Path, records: int = RECORDS, settings: dict[str, str] | None = None) -> P1:
    foreign = stdlib_only()
    if foreign:
        raise RuntimeError(f"bench/reference.py must use the standard library only; it imports {foreign}")
    print(f"P1: a frozen backlog, the deployed pipeline against a plain loop (nominal {records:,} records)")
    sim = frozen_backlog(directory / "sim", records)
    try:
        truth = Truth.of(sim)
        print(f"  ground truth: {truth.describe()}")
        cold = copy(sim, directory / "cold.ndjson")
        print(f"  warm-up: reference loop, cold simulator: {cold.records:,} records, {cold.rate:,.0f} rec/s")
        pipelines: dict[int, Drain] = {}
        exact: dict[int, bool] = {}
        passes: list[Copy] = []  # the reference, measured after each pipeline run: load drifts
        for processes in (2, 1):
            with Deployment(
                directory / f"pipeline-{processes}", sim.url, processes, settings or {}
            ) as deployed:
                pipelines[processes] = deployed.drain(truth.total)
            delivery = check_destination(deployed.destination, truth)
            exact[processes] = delivery.exactly_once
            print(
                f"  pipeline, 1 worker x {processes} process{plural(processes)}: {delivery.describe(truth)}"
            )
            passes.append(copy(sim, directory / "reference.ndjson"))
            verdict = "every record" if passes[-1].records == truth.total else "NOT every record"
            print(f"  reference loop: {passes[-1].records:,} records copied ({verdict} of the ground truth), "
                  f"{passes[-1].rate:,.0f} rec/s")  # fmt: skip
            sys.stdout.flush()
    finally:
        sim.stop()
    measured = Copy(passes[0].records, sum(one.seconds for one in passes) / len(passes))
    result = P1(truth.total, measured, pipelines, exact)
    print("  {:<48}{:>10}{:>9}{:>10}{:>16}".format("run", "records", "seconds", "rec/s", "/ reference"))
    name = f"reference loop (stdlib, 1 process; mean of {len(passes)})"
    print(f"  {name:<48}{measured.records:>10,}{measured.seconds:>9.1f}{measured.rate:>10,.0f}{'1.00x':>16}")
    for processes in (2, 1):
        drain = pipelines[processes]
        name = f"pipeline: 1 worker x {processes} process{plural(processes)}"
        note = "" if drain.complete else " (incomplete)"
        print(f"  {name:<48}{drain.records:>10,}{drain.seconds:>9.1f}{drain.rate:>10,.0f}"
              f"{floor2(result.ratio(processes)):>15.2f}x{note}")  # fmt: skip
    return result


def plural(count: int) -> str:
    return "es" if count > 1 else ""

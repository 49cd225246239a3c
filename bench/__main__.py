"""`make bench` / `python -m bench [PART ...] [options]`: the benchmarks, each printing its figures.

Parts: `simulator` (how fast the simulator serves), `client` (our Mimecast client), `destinations`
(records/s into each destination type), the three of
issue 9, `p1` (pipeline against a plain loop), `p5` (scaling over worker processes) and `dispatch`
(tick time and steady state); `targets` runs those three; and issue 10's `freshness` (a record's
arrival in the destination after it became available, on a live simulator, `--minutes` long). No
part named: all of them. Apart from them, `ab --base REV` drains the P1 backlog with the code at REV
and with the working tree, alternately (`bench.side_by_side`): a change measured against its base.
Whenever p1, p5, dispatch or freshness ran, a table of the issues' targets next to the figures ends
the output.

Quick run: `python -m bench p1 --records 30000`, `python -m bench targets --quick`, or
`python -m bench freshness --quick` (4 minutes).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from bench import (
    client_throughput,
    destination_throughput,
    dispatch_tick,
    freshness,
    pipeline_vs_reference,
    side_by_side,
    simulator_throughput,
    worker_scaling,
)
from bench.dispatch_tick import Dispatch
from bench.pipeline_vs_reference import FLOOR, P1
from bench.targets import Target, ceil3, floor2, table
from bench.worker_scaling import P5

PARTS = ("simulator", "client", "destinations", "p1", "p5", "dispatch", "freshness")
QUICK = {
    "records": 30_000,
    "p1_rounds": 1,
    "p5_records": 12_000,
    "streams": 4_000,
    "due": 1_000,
    "steady_seconds": 10.0,
}


def _options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parts = [*PARTS, "targets", "all", "ab"]
    parser.add_argument("parts", nargs="*", metavar="PART", help=f"any of {', '.join(parts)} (default: all)")
    parser.add_argument(
        "--records", type=int, default=pipeline_vs_reference.RECORDS, help="P1 backlog (nominal)"
    )
    parser.add_argument(
        "--p1-rounds", type=int, default=pipeline_vs_reference.ROUNDS, help="P1 rounds (the median is shown)"
    )
    parser.add_argument("--p5-records", type=int, default=worker_scaling.RECORDS, help="P5 backlog (nominal)")
    parser.add_argument("--processes", default=",".join(map(str, worker_scaling.PROCESSES)), help="P5 counts")
    parser.add_argument(
        "--latency-ms", type=int, default=worker_scaling.LATENCY_MS, help="P5 latency per call"
    )
    parser.add_argument(
        "--streams", type=int, default=dispatch_tick.STREAMS, help="dispatch: streams configured"
    )
    parser.add_argument("--due", type=int, default=dispatch_tick.DUE, help="dispatch: streams due")
    parser.add_argument("--ticks", type=int, default=dispatch_tick.TICKS, help="dispatch: ticks timed")
    parser.add_argument("--steady-seconds", type=float, default=dispatch_tick.STEADY_SECONDS)
    parser.add_argument(
        "--minutes",
        type=float,
        default=None,
        help=f"freshness: minutes (default {freshness.MINUTES:g}, {freshness.QUICK_MINUTES:g} with --quick)",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for the product's processes",
    )
    parser.add_argument("--base", help="ab: the revision to compare the working tree with")
    parser.add_argument("--rounds", type=int, default=side_by_side.ROUNDS, help="ab: rounds of each side")
    parser.add_argument("--workers", type=int, default=2, help="ab: the worker's processes (P1: 2 or 1)")
    parser.add_argument("--quick", action="store_true", help="small sizes: " + str(QUICK))
    options = parser.parse_args()
    unknown = [part for part in options.parts if part not in parts]
    if unknown:
        parser.error(f"unknown part(s) {', '.join(unknown)}; parts: {', '.join(parts)}")
    if "ab" in options.parts and (not options.base or len(options.parts) > 1):
        parser.error("ab runs alone and needs --base REV (a commit, branch or tag)")
    if options.p1_rounds < 1:
        parser.error("--p1-rounds must be at least 1")
    if options.quick:
        for name, value in QUICK.items():
            setattr(options, name, value)
    if options.minutes is None:
        options.minutes = freshness.QUICK_MINUTES if options.quick else freshness.MINUTES
    if options.minutes * 60 <= freshness.TARGET_SECONDS:
        parser.error(f"--minutes must be longer than the target ({freshness.TARGET_SECONDS:.0f} s)")
    return options


def _targets(p1: P1 | None, p5: P5 | None, dispatch: Dispatch | None) -> list[Target]:
    found: list[Target] = []
    if p1 is not None:
        for processes, wanted in ((2, 1.0), (1, 0.6)):
            median, count = p1.median(processes), len(p1.of(processes))
            rates = f"{median.drain.rate:,.0f} vs {median.reference.rate:,.0f} rec/s"
            figure = f"{floor2(median.ratio):.2f}x ({rates}; median of {count})"
            name = f"P1 pipeline {processes} process{'es' if processes > 1 else ''} / reference >= {wanted}"
            if p1.of(processes, FLOOR):
                bound = p1.median(processes, FLOOR)
                share = floor2(median.ratio / bound.ratio)  # each against its own reference passes
                figure += f"; the floor of its duties {floor2(bound.ratio):.2f}x"
                figure += f", the pipeline {share:.2f} of it"
                if not p1.floor_exactly_once:  # a floor that lost records is no bound
                    figure += " (the floor NOT exactly once)"
            found.append(Target(name, figure, median.ratio >= wanted and p1.complete(processes)))
        every = p1.exactly_once
        found.append(
            Target(
                "P1 every record exactly once",
                f"{'yes' if every else 'NO'} ({p1.truth_total:,} records)",
                every,
            )
        )
    if p5 is not None and len(p5.drains) > 1:
        least, most = min(p5.drains), max(p5.drains)
        speedup = p5.speedup(most)
        rates = f"{p5.drains[least].rate:,.0f} -> {p5.drains[most].rate:,.0f} rec/s"
        figure = f"{floor2(speedup):.2f}x ({rates})"
        name = f"P5 {least} -> {most} processes >= 6x"
        complete = all(drain.complete for drain in p5.drains.values())
        found.append(Target(name, figure, speedup >= 6.0 and complete))
        every = all(p5.exactly_once.values()) and p5.threads_exactly_once
        counts = ", ".join(str(count) for count in p5.drains)
        if p5.threads is not None:
            counts += f"; 1 process of {most} threads"
        found.append(Target("P5 every record exactly once", f"{'yes' if every else 'NO'} ({counts})", every))
    if dispatch is not None:
        claimed = min(tick["claimed"] for tick in dispatch.ticks)
        figure = f"max {ceil3(dispatch.tick_max):.3f} s, claims {claimed:,.0f} of {dispatch.due:,} due"
        if any(tick["helpers"] for tick in dispatch.ticks):
            figure += f" (with its helpers {ceil3(dispatch.through_max):.3f} s)"
        found.append(
            Target(
                f"Dispatch tick with {dispatch.due:,} due < 1 s",
                figure,
                dispatch.tick_max < 1.0 and dispatch.claims_all,
            )
        )
        found.append(
            Target(
                "Dispatch no stream overdue (steady state)",
                f"up to {dispatch.steady_left:,} left overdue, {ceil3(dispatch.steady_lateness):.3f} s late",
                dispatch.steady_left == 0,
            )
        )
    return found


def _load() -> str:
    """The machine's load average (1, 5, 15 minutes): figures from a busy machine are low."""
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


def main() -> None:
    options = _options()
    settings = dict(item.split("=", 1) for item in options.env)
    if options.parts == ["ab"]:
        with tempfile.TemporaryDirectory(prefix="bench-ab-") as tmp:
            side_by_side.run(
                Path(tmp), options.base, options.rounds, options.workers, options.records, settings
            )
        return
    parts = [p for p in options.parts if p != "all"] or list(PARTS)
    if "targets" in parts:
        parts = [p for p in parts if p != "targets"] + ["p1", "p5", "dispatch"]
    p1 = p5 = dispatch = None
    fresh: freshness.Freshness | None = None
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        root = Path(tmp)
        for part in PARTS:
            if part not in parts:
                continue
            print(f"[{part}: load average {_load()} on {os.cpu_count()} cores]")
            if part == "simulator":
                simulator_throughput.main()
            elif part == "client":
                client_throughput.main()
            elif part == "destinations":
                destination_throughput.run(root / "destinations")
            elif part == "p1":
                p1 = pipeline_vs_reference.run(root / "p1", options.records, settings, options.p1_rounds)
            elif part == "p5":
                counts = tuple(int(count) for count in options.processes.split(","))
                p5 = worker_scaling.run(root / "p5", options.p5_records, counts, options.latency_ms, settings)
            elif part == "dispatch":
                dispatch = dispatch_tick.run(
                    root / "dispatch",
                    options.streams,
                    options.due,
                    options.ticks,
                    options.steady_seconds,
                    settings,
                )
            elif part == "freshness":
                fresh = freshness.run(root / "freshness", options.minutes, settings)
            print(flush=True)
    found = _targets(p1, p5, dispatch)
    if found:
        print(table(found))
    if fresh is not None:
        if not fresh.siem_modes:
            print("SIEM streaming/auto is not available in this build: no SIEM freshness measured")
        print(table(freshness.targets(fresh), "targets (issue 10):"))
    if settings:
        print(f"settings given with --env: {settings}")
    print(f"(bench ran {time.monotonic() - began:.0f} s; load average at the end {_load()})")


main()
